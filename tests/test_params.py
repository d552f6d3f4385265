"""params.yaml validation: typed sections, and one-line errors naming key, value and rule."""

import pytest
import yaml

from mnist_pipeline.errors import ParamsError
from mnist_pipeline.params import Params, load_params
from tests.conftest import REPO, base_params, write_params


def test_the_repository_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert isinstance(params, Params)
    assert params.train.epochs >= 1
    assert params.data.sources[0].kind == "pypi"


def test_params_are_frozen():
    params = load_params(REPO / "params.yaml")
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
    ],
)
def test_bad_values_are_refused_naming_key_value_and_rule(tmp_path, section, key, value, expected):
    params = base_params()
    params[section][key] = value
    with pytest.raises(ParamsError) as error:
        load_params(write_params(tmp_path / "params.yaml", params))
    assert expected in str(error.value)
    assert "\n" not in str(error.value)
    assert error.value.exit_code == 2


def test_a_misspelled_key_lists_the_allowed_ones(tmp_path):
    params = base_params()
    params["train"]["epoch"] = params["train"].pop("epochs")
    with pytest.raises(
        ParamsError,
        match=r"unknown key 'train.epoch' \(did you mean 'epochs'\?\); allowed here: "
        r"batch_size, early_stopping, epochs, label_smoothing, learning_rate, mixed_precision, "
        r"optimizer, schedule, warmup_epochs",
    ):
        load_params(write_params(tmp_path / "params.yaml", params))


def test_a_missing_key_is_named(tmp_path):
    params = base_params()
    del params["train"]["epochs"]
    with pytest.raises(ParamsError, match=r"missing key 'train\.epochs'"):
        load_params(write_params(tmp_path / "params.yaml", params))


def test_an_unknown_source_kind_lists_the_kinds(tmp_path):
    params = base_params()
    params["data"]["sources"][1]["kind"] = "ftp"
    with pytest.raises(
        ParamsError,
        match=r"data.sources.1.kind: 'ftp' is not allowed: "
        r"expected one of 'pypi', 'url', 'file'",
    ):
        load_params(write_params(tmp_path / "params.yaml", params))


def test_a_source_key_path_leaves_out_the_union_tag(tmp_path):
    params = base_params()
    params["data"]["sources"][1]["sha"] = params["data"]["sources"][1].pop("sha256")
    with pytest.raises(
        ParamsError,
        match=r"unknown key 'data.sources.1.sha' \(did you mean 'sha256'\?\); allowed here: "
        r"kind, sha256, url",
    ):
        load_params(write_params(tmp_path / "params.yaml", params))


def test_nested_knobs_are_checked_with_their_full_key(tmp_path):
    params = base_params()
    params["model"]["augment"]["rotation_degrees"] = 90.0
    with pytest.raises(
        ParamsError, match=r"model\.augment\.rotation_degrees: 90\.0 is not allowed"
    ):
        load_params(write_params(tmp_path / "params.yaml", params))


def test_scientific_notation_is_a_float(tmp_path):
    # PyYAML alone reads 1e-3 as the string '1e-3'.
    text = (REPO / "params.yaml").read_text().replace("learning_rate: 0.001", "learning_rate: 1e-3")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    assert load_params(path).train.learning_rate == 0.001


def test_an_integer_is_accepted_where_a_float_is_expected(tmp_path):
    params = base_params()
    params["data"]["timeout_seconds"] = 30
    assert load_params(write_params(tmp_path / "params.yaml", params)).data.timeout_seconds == 30


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected a mapping with the sections seed, data, preprocess"),
        ("seed: 1\ntrain: [\n", r":3:1: not valid YAML"),
        ("seed: 1\nseed: 2\n", r":2:1: not valid YAML: duplicate key 'seed'"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_unreadable_files_name_the_file_and_line(tmp_path, text, expected):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=expected) as error:
        load_params(path)
    assert str(error.value).startswith(str(path))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_every_section_in_the_schema_is_in_params_yaml():
    assert set(yaml.safe_load((REPO / "params.yaml").read_text())) == set(Params.model_fields)


def test_overrides_set_keys_as_dvc_exp_run_does():
    params = load_params(
        REPO / "params.yaml",
        ["train.epochs=3", "train.learning_rate=2e-3", "model.augment.zoom=0.1", "seed=7"],
    )
    assert (params.train.epochs, params.train.learning_rate, params.seed) == (3, 0.002, 7)
    assert params.model.augment.zoom == 0.1


@pytest.mark.parametrize("override", ["train.epoch=3", "epochs", "seed.x=1", "nosuch.key=1"])
def test_an_override_of_a_key_that_does_not_exist_is_refused(override):
    with pytest.raises(ParamsError, match=r"override .*expected key=value with an existing key"):
        load_params(REPO / "params.yaml", [override])


def test_an_override_is_validated_like_the_file():
    with pytest.raises(ParamsError, match=r"train.epochs: -1 is not allowed"):
        load_params(REPO / "params.yaml", ["train.epochs=-1"])


def test_warmup_may_be_a_fraction_of_an_epoch():
    assert load_params(REPO / "params.yaml", ["train.warmup_epochs=0.3"]).train.warmup_epochs == 0.3
