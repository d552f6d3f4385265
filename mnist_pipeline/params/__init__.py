"""params.yaml, parsed once into typed, frozen objects; the machinery every stage shares.

Each stage reads only its own sections, with a schema in the module of the
same name (``params/train.py`` for the train stage), so a change to one
stage's schema re-runs only that stage. Every key of a section is required,
but for the few that act only with another key's value (``train.warmup_epochs``),
which are required there and refused elsewhere: params.yaml (composed from
conf/, see ``params/compose.py``) is the one place a setting lives, so DVC sees
every change.
Unknown keys, wrong types and out-of-range values are refused with one line
naming the key, the value and what is allowed.
"""

import difflib
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from pydantic_core import PydanticCustomError

from mnist_pipeline.errors import ParamsError

Seed = Annotated[StrictInt, Field(ge=0, lt=2**32)]


class Section(BaseModel):
    """One section of params.yaml: every key required, none unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StageParams(BaseModel):
    """The sections one stage reads; the other stages' sections are not its business."""

    model_config = ConfigDict(extra="ignore", frozen=True)


Schema = TypeVar("Schema", bound=BaseModel)
INAPPLICABLE = "inapplicable"  # the error type of a key set where it does nothing


def inapplicable(message: str) -> PydanticCustomError:
    """A key set where, with the others' values, it would do nothing: refused in its own words."""
    return PydanticCustomError(INAPPLICABLE, message.replace("{", "{{").replace("}", "}}"))


def load_params(path: str | Path, schema: type[Schema], overrides: Sequence[str] = ()) -> Schema:
    """Read ``path`` and validate it against ``schema``; ParamsError names the first problem.

    ``overrides`` are ``key=value`` strings as ``dvc exp run -S`` takes them
    (``train.epochs=10``), applied before validation.
    """
    path = Path(path)
    data = _read_yaml(path, schema)
    for override in overrides:
        _apply_override(data, override)
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        # A misspelled key is both unknown and missing: name the spelling first.
        problems = sorted(error.errors(), key=lambda problem: problem["type"] != "extra_forbidden")
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        found = ", ".join(map(str, data))
        raise ParamsError(f"{path}: {_describe(problems[0], schema, found)}{more}") from None


def check_unchanged(path: str | Path, started_with: BaseModel) -> None:
    """Fail if ``path`` no longer holds the params this stage started with.

    DVC records the params file as it is when a stage ends. If another program
    (say, a second `dvc exp run -S`) rewrote it meanwhile, dvc.lock would pair
    these outputs with params they were not made with.
    """
    now = load_params(path, type(started_with))
    if now != started_with:
        key, before, after = _first_difference(started_with.model_dump(), now.model_dump())
        raise ParamsError(
            f"{path} changed while this stage ran ({key}: {_shown(before)} -> {_shown(after)}); "
            "no output was written: run it again"
        )


def _first_difference(before: dict, after: dict, prefix: str = "") -> tuple[str, object, object]:
    for key, value in before.items():
        if value != after.get(key):
            if isinstance(value, dict) and isinstance(after.get(key), dict):
                return _first_difference(value, after[key], f"{prefix}{key}.")
            return f"{prefix}{key}", value, after.get(key)
    raise ValueError("no difference")


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
    """YAML 1.2 floats (``1e-3`` is a float, not a string), no duplicate keys, no aliases."""

    def compose_node(self, parent, index):
        # An alias is never needed in params, and a few nested ones expand to gigabytes.
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", self.peek_event().start_mark
            )
        return super().compose_node(parent, index)

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


def _read_yaml(path: Path, schema: type[BaseModel]) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ParamsError(f"{path}: is a folder, expected a YAML file") from None
    except UnicodeDecodeError as error:
        raise ParamsError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise ParamsError(f"{path}: cannot read: {error.strerror}") from None
    try:
        data = yaml.load(text, Loader=_ParamsLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ParamsError(f"{path}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ParamsError(
            f"{path}: expected a mapping with the keys {', '.join(schema.model_fields)}"
        )
    return data


def _describe(problem: dict, schema: type[BaseModel], found: str) -> str:
    sections, key, chosen = _walk(problem["loc"][:-1], schema)
    picked = f" (with {chosen})" if chosen else ""  # which keys belong depends on it
    key = ".".join([*key, str(problem["loc"][-1])]) if problem["loc"] else "(top level)"
    if problem["type"] == "extra_forbidden":
        allowed = sorted({name for model in sections for name in model.model_fields})
        guess = difflib.get_close_matches(str(problem["loc"][-1]), allowed, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        return f"unknown key {key!r}{hint}{picked}; allowed here: {', '.join(allowed)}"
    if problem["type"] == "missing":
        top_level = f" (the file has: {found})" if len(problem["loc"]) == 1 else ""
        return f"missing key {key!r}{picked}{top_level}"
    if problem["type"] == "union_tag_invalid":
        context = problem["ctx"]
        field, tags = context["discriminator"].strip("'"), context["expected_tags"]
        return f"{key}.{field}: {_shown(context['tag'])} is not allowed: expected one of {tags}"
    if problem["type"] == INAPPLICABLE:  # a rule across keys: its own words say it all
        return problem["msg"]
    if problem["type"] == "union_tag_not_found":
        return f"missing key '{key}.{problem['ctx']['discriminator'].strip(chr(39))}'"
    message = problem["msg"][0].lower() + problem["msg"][1:]
    return f"{key}: {_shown(problem['input'])} is not allowed: {message}"


def _shown(value: object, limit: int = 60) -> str:
    """A value as the user wrote it, cut short: an error message stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _walk(location: tuple, schema: type[BaseModel]) -> tuple[list[type[BaseModel]], list[str], str]:
    """Follow a pydantic error location from the top: the sections reached, the key path,
    and the last union member picked (``arch basic``), if any.

    A location also holds list positions and the tags of union members (the
    ``url`` in ``data.sources.1.url.sha256``); tags are not keys, so they are
    left out of the path a user sees.
    """
    sections, key, picked = [schema], [], ""
    for part in location:
        if isinstance(part, int):  # a position in a list: same sections
            key.append(str(part))
            continue
        tagged = [model for model in sections if part in _tags(model)[1:]]
        if tagged and len(sections) > 1:  # which member of a union: not a key
            sections, picked = tagged, f"{_tags(tagged[0])[0]} {part}"
            continue
        stepped = [inner for model in sections for inner in _step(model, part)]
        sections, key = stepped, [*key, part]
    return sections, key, picked


def _step(annotation, part) -> list[type[BaseModel]]:
    """The models reached from ``annotation`` by one step ``part`` of an error location."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if part not in annotation.model_fields:
            return []
        return _models_in(annotation.model_fields[part].annotation)
    return []


# The keys whose value picks a union's member: a data source's kind, a model's arch.
DISCRIMINATORS = ("kind", "arch")


def _tags(model: type[BaseModel]) -> tuple[str, ...]:
    """The discriminating key of a union member, then the values that pick it; else ``("",)``."""
    for name in DISCRIMINATORS:
        if name in model.model_fields:
            return name, *typing.get_args(model.model_fields[name].annotation)
    return ("",)


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
