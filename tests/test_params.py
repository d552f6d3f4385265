"""params.yaml validation: typed sections, and one-line errors naming key, value and rule."""

import importlib
import pkgutil
import subprocess
from pathlib import Path

import pytest
import yaml

import mnist_pipeline.params
from mnist_pipeline.errors import ParamsError
from mnist_pipeline.params import StageParams, load_params
from mnist_pipeline.params.check_params import STAGE_SCHEMAS, CheckParamsStageParams
from mnist_pipeline.params.compose import compose
from mnist_pipeline.params.download import DataSources, DownloadStageParams
from mnist_pipeline.params.preprocess import PreprocessStageParams
from mnist_pipeline.params.train import TrainStageParams
from tests.conftest import REPO, tiny_params, write_params


def committed(path: str) -> str:
    """A file as committed: the workspace may hold an experiment's changes."""
    return subprocess.run(
        ["git", "show", f"HEAD:{path}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def discovered_schemas() -> set[type[StageParams]]:
    """Every stage's schema in the params package, found rather than listed."""
    for module in pkgutil.iter_modules(mnist_pipeline.params.__path__):
        importlib.import_module(f"mnist_pipeline.params.{module.name}")
    return {
        schema
        for schema in StageParams.__subclasses__()
        if schema.__module__ != "mnist_pipeline.params.check_params"
    }


def test_check_params_knows_every_stage_schema():
    assert set(STAGE_SCHEMAS) == discovered_schemas()


@pytest.mark.parametrize(
    "schema", [*STAGE_SCHEMAS, CheckParamsStageParams], ids=lambda schema: schema.__name__
)
def test_the_committed_params_are_valid_for_every_stage(tmp_path, schema):
    path = tmp_path / "params.yaml"
    path.write_text(committed("params.yaml"))
    assert isinstance(load_params(path, schema), schema)


def test_every_section_of_the_committed_params_is_read_by_a_stage():
    read = {name for schema in STAGE_SCHEMAS for name in schema.model_fields}
    assert set(yaml.safe_load(committed("params.yaml"))) == read


def test_the_committed_data_sources_are_valid(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(committed("data/sources.yaml"))
    assert load_params(path, DataSources).sources[0].kind == "pypi"


def test_a_stage_ignores_the_sections_of_other_stages(tmp_path):
    params = tiny_params()
    params["report"] = "not this stage's business"
    path = write_params(tmp_path / "params.yaml", params)
    assert load_params(path, PreprocessStageParams).preprocess.val_fraction == 0.1


def test_params_are_frozen(params_file):
    params = load_params(params_file, TrainStageParams)
    with pytest.raises(ValueError):
        params.train.epochs = 3


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        (
            "train",
            "epochs",
            "ten",
            "train.epochs: 'ten' is not allowed: input should be a valid integer",
        ),
        (
            "train",
            "epochs",
            1.5,
            "train.epochs: 1.5 is not allowed: input should be a valid integer",
        ),
        (
            "train",
            "epochs",
            True,
            "train.epochs: True is not allowed: input should be a valid integer",
        ),
        (
            "train",
            "epochs",
            0,
            "train.epochs: 0 is not allowed: input should be greater than or equal to 1",
        ),
        ("train", "batch_size", -1, "train.batch_size: -1 is not allowed"),
        (
            "train",
            "learning_rate",
            0.0,
            "train.learning_rate: 0.0 is not allowed: input should be greater than 0",
        ),
        ("train", "optimizer", "rmsprop", "'adam', 'adamw' or 'sgd'"),
        (
            "preprocess",
            "val_fraction",
            1.0,
            "preprocess.val_fraction: 1.0 is not allowed: input should be less than 1",
        ),
        ("preprocess", "val_fraction", 0.0, "preprocess.val_fraction: 0.0 is not allowed"),
        ("model", "arch", "resnet", "model.arch: 'resnet' is not allowed"),
        ("report", "sample_images", 1000, "report.sample_images: 1000 is not allowed"),
        ("train", "schedule", "step", "train.schedule: 'step' is not allowed"),
        ("train", "label_smoothing", 1.0, "train.label_smoothing: 1.0 is not allowed"),
        ("train", "mixed_precision", "yes", "train.mixed_precision: 'yes' is not allowed"),
        ("model", "dropout", -0.1, "model.dropout: -0.1 is not allowed"),
        ("train", "learning_rate", float("nan"), "train.learning_rate: nan is not allowed"),
        ("train", "learning_rate", 1e30, "train.learning_rate: 1e+30 is not allowed"),
        ("train", "warmup_epochs", float("inf"), "train.warmup_epochs: inf is not allowed"),
        ("train", "optimizer", "x" * 10_000, "train.optimizer: 'xxxxxxx"),
        ("train", "distribute", "parameter_server", "train.distribute: 'parameter_server' is not"),
        ("train", "devices", ["TPU:0"], "train.devices.0: 'TPU:0' is not allowed"),
    ],
)
def test_bad_values_are_refused_naming_key_value_and_rule(tmp_path, section, key, value, expected):
    params = tiny_params()
    params[section][key] = value
    schema = next(schema for schema in STAGE_SCHEMAS if section in schema.model_fields)
    with pytest.raises(ParamsError) as error:
        load_params(write_params(tmp_path / "params.yaml", params), schema)
    assert expected in str(error.value)
    assert "\n" not in str(error.value) and len(str(error.value)) < 400
    assert error.value.exit_code == 2


def test_a_misspelled_key_lists_the_allowed_ones(tmp_path):
    params = tiny_params()
    params["train"]["epoch"] = params["train"].pop("epochs")
    with pytest.raises(
        ParamsError,
        match=r"unknown key 'train.epoch' \(did you mean 'epochs'\?\); allowed here: "
        r"batch_size, devices, distribute, early_stopping_patience, ema_momentum, epochs, "
        r"label_smoothing, learning_rate, mixed_precision, optimizer, schedule, warmup_epochs",
    ):
        load_params(write_params(tmp_path / "params.yaml", params), TrainStageParams)


def test_a_missing_key_is_named(tmp_path):
    params = tiny_params()
    del params["train"]["epochs"]
    with pytest.raises(ParamsError, match=r"missing key 'train\.epochs'"):
        load_params(write_params(tmp_path / "params.yaml", params), TrainStageParams)


def test_a_misspelled_section_is_shown_beside_the_missing_one(tmp_path):
    params = tiny_params()
    params["trian"] = params.pop("train")
    with pytest.raises(ParamsError, match=r"missing key 'train' \(the file has: .*trian"):
        load_params(write_params(tmp_path / "params.yaml", params), TrainStageParams)


def sources_with(tmp_path, change):
    sources = yaml.safe_load(committed("data/sources.yaml"))
    change(sources)
    return write_params(tmp_path / "sources.yaml", sources)


def test_an_unknown_source_kind_lists_the_kinds(tmp_path):
    path = sources_with(tmp_path, lambda sources: sources["sources"][1].update(kind="ftp"))
    with pytest.raises(
        ParamsError,
        match=r"sources.1.kind: 'ftp' is not allowed: expected one of 'pypi', 'url', 'file'",
    ):
        load_params(path, DataSources)


def test_a_source_key_path_leaves_out_the_union_tag(tmp_path):
    def misspell(sources):
        sources["sources"][1]["sha"] = sources["sources"][1].pop("sha256")

    with pytest.raises(
        ParamsError,
        match=r"unknown key 'sources.1.sha' \(did you mean 'sha256'\?\) \(with kind url\); "
        r"allowed here: "
        r"kind, sha256, url",
    ):
        load_params(sources_with(tmp_path, misspell), DataSources)


def test_nested_knobs_are_checked_with_their_full_key(tmp_path):
    params = tiny_params()
    params["model"]["augment"]["rotation_degrees"] = 90.0
    with pytest.raises(
        ParamsError, match=r"model\.augment\.rotation_degrees: 90\.0 is not allowed"
    ):
        load_params(write_params(tmp_path / "params.yaml", params), TrainStageParams)


def test_scientific_notation_is_a_float(params_file):
    # PyYAML alone reads 1e-3 as the string '1e-3'.
    text = params_file.read_text().replace("learning_rate: 0.001", "learning_rate: 1e-3")
    params_file.write_text(text)
    assert load_params(params_file, TrainStageParams).train.learning_rate == 0.001


def test_an_integer_is_accepted_where_a_float_is_expected(tmp_path):
    params = tiny_params(data={"timeout_seconds": 30})
    path = write_params(tmp_path / "params.yaml", params)
    assert load_params(path, DownloadStageParams).data.timeout_seconds == 30


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected a mapping with the keys seed, model, train"),
        ("seed: 1\ntrain: [\n", r":3:1: not valid YAML"),
        ("seed: 1\nseed: 2\n", r":2:1: not valid YAML: duplicate key 'seed'"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: &x [1]\nseed: *x\n", r":2:7: not valid YAML: aliases \(\*name\) are not allowed"),
    ],
)
def test_unreadable_files_name_the_file_and_line(tmp_path, text, expected):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=expected) as error:
        load_params(path, TrainStageParams)
    assert str(error.value).startswith(str(path))


def test_a_yaml_alias_bomb_is_refused_at_once_in_one_short_line(tmp_path):
    levels = [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 10)]
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(["l0: &l0 [lol]", *levels, "seed: *l9", ""]))
    with pytest.raises(ParamsError, match="aliases") as error:
        load_params(path, TrainStageParams)
    assert len(str(error.value)) < 200


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda path: path.mkdir(), "is a folder, expected a YAML file"),
        (lambda path: path.write_bytes(b"seed: \xff\xfe\n"), "not UTF-8 text (byte 6)"),
        (lambda path: None, "file not found"),
    ],
    ids=["folder", "not-utf8", "missing"],
)
def test_a_params_path_that_is_not_a_readable_text_file_is_named(tmp_path, make, expected):
    path = tmp_path / "params.yaml"
    make(path)
    with pytest.raises(ParamsError) as error:
        load_params(path, TrainStageParams)
    assert str(error.value) == f"{path}: {expected}"


def test_overrides_set_keys_as_dvc_exp_run_does(params_file):
    params = load_params(
        params_file,
        TrainStageParams,
        ["train.epochs=3", "train.learning_rate=2e-3", "model.augment.zoom=0.1", "seed=7"],
    )
    assert (params.train.epochs, params.train.learning_rate, params.seed) == (3, 0.002, 7)
    assert params.model.augment.zoom == 0.1


@pytest.mark.parametrize("override", ["train.epoch=3", "epochs", "seed.x=1", "nosuch.key=1"])
def test_an_override_of_a_key_that_does_not_exist_is_refused(params_file, override):
    with pytest.raises(ParamsError, match=r"override .*expected key=value with an existing key"):
        load_params(params_file, TrainStageParams, [override])


def test_an_override_is_validated_like_the_file(params_file):
    with pytest.raises(ParamsError, match=r"train.epochs: -1 is not allowed"):
        load_params(params_file, TrainStageParams, ["train.epochs=-1"])


def test_warmup_may_be_a_fraction_of_an_epoch(tmp_path):
    params = tiny_params(train={"schedule": "warmup_cosine", "warmup_epochs": 0.3})
    loaded = load_params(write_params(tmp_path / "params.yaml", params), TrainStageParams)
    assert loaded.train.warmup_epochs == 0.3


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"model": {"batch_norm": True}},  # basic has no batch normalisation to turn on
            "unknown key 'model.batch_norm' (with arch basic); allowed here: arch, augment, "
            "dropout",
        ),
        (
            {"model": {"arch": "fast"}},
            "missing key 'model.batch_norm' (with arch fast)",
        ),
        (
            {"train": {"warmup_epochs": 1.0}},
            "train.warmup_epochs does nothing with train.schedule constant",
        ),
        (
            {"train": {"schedule": "warmup_cosine"}},
            "train.schedule warmup_cosine needs train.warmup_epochs",
        ),
        (
            {"train": {"devices": ["GPU:0"]}},
            "train.devices does nothing with train.distribute auto",
        ),
        (
            {"train": {"ema_momentum": 0.99, "early_stopping_patience": 2}},
            "train.ema_momentum does nothing with train.early_stopping_patience 2",
        ),
    ],
)
def test_a_key_that_cannot_act_is_refused(tmp_path, changes, expected):
    """A knob that changes nothing must not be settable: it would retrain for nothing."""
    params = tiny_params(**changes)
    with pytest.raises(ParamsError) as error:
        load_params(write_params(tmp_path / "params.yaml", params), TrainStageParams)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_a_model_without_an_arch_is_named_as_missing_its_arch(tmp_path):
    params = tiny_params()
    del params["model"]["arch"]
    with pytest.raises(ParamsError, match=r"missing key 'model\.arch'$"):
        load_params(write_params(tmp_path / "params.yaml", params), TrainStageParams)


def committed_project(root: Path) -> Path:
    """conf/ and params.yaml as committed, in ``root``: the workspace may hold an experiment."""
    archive = subprocess.run(
        ["git", "archive", "HEAD", "conf", "params.yaml"], cwd=REPO, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root


def test_the_committed_params_are_the_composition_of_conf(tmp_path):
    """`dvc exp run` writes params.yaml from conf/: with no -S it must leave it as it is."""
    root = committed_project(tmp_path)
    assert compose(root) == (root / "params.yaml").read_text()


PRESETS = sorted(path.stem for path in (REPO / "conf/model").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_params_every_stage_accepts(tmp_path, preset):
    root = committed_project(tmp_path)
    path = tmp_path / "composed.yaml"
    path.write_text(compose(root, [f"model={preset}"]))
    params = load_params(path, CheckParamsStageParams)
    assert params.model.arch == preset  # each architecture's preset is named after it


def test_the_presets_cover_the_registered_architectures():
    from typing import get_args

    from mnist_pipeline.params.train import NormalisedModel, PlainModel

    members = (PlainModel, NormalisedModel)
    schema = [arch for kind in members for arch in get_args(kind.model_fields["arch"].annotation)]
    assert sorted(schema) == PRESETS


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model=resnet"], "Could not find 'model/resnet'"),
        (["train.epoch=3"], "Could not override 'train.epoch'"),
    ],
)
def test_a_bad_composition_is_one_line_naming_it(tmp_path, overrides, expected):
    root = committed_project(tmp_path)
    with pytest.raises(ParamsError) as error:
        compose(root, overrides)
    assert expected in str(error.value) and "\n" not in str(error.value)
