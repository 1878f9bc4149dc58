"""Load a scenario file (plus `--set` overrides) into a validated, frozen `Scenario`.

Everything a user can get wrong here becomes one `ScenarioError` whose message is a single
line: the file, the dotted key path, the offending value, what is allowed, and a "did you
mean …?" when a close match exists.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from agents.errors import ScenarioError, ScenarioValueError, did_you_mean
from sim.scenario import schema
from sim.scenario.edge_list import customer_ids, read_edge_list
from sim.scenario.schema import UNION_TAGS, EdgeList, Scenario

_REQUIRED_TOP_LEVEL = "schema_version, name, products, companies, customers, agents"


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key written twice in one mapping.

    Plain YAML keeps the last value silently, so `ticks: 20` then `ticks: 3` would run 3
    ticks without a word.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, raising on a repeated key (with its line and column)."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} appears twice in the same mapping; keep one",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; raise `ScenarioError` with one line if not."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise ScenarioError(f"{path}: is a directory, not a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the file ({exc})") from exc
    if not text.strip():
        raise ScenarioError(
            f"{path}: the file is empty; a scenario needs at least {_REQUIRED_TOP_LEVEL}"
        )
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: {_describe_yaml_error(exc)}") from exc
    if data is None:
        raise ScenarioError(
            f"{path}: the file holds no data; a scenario needs at least {_REQUIRED_TOP_LEVEL}"
        )
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: the top level must be a mapping of keys ({_REQUIRED_TOP_LEVEL}), "
            f"not a {type(data).__name__}"
        )
    return data


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"YAML syntax error at {where}{problem}; fix the indentation or quoting there"


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], source: str) -> dict[str, Any]:
    """Return a copy of `data` with each `dotted.key=value` override applied.

    Values are parsed as YAML (`3` is a number, `[a, b]` a list, `true` a boolean). Missing
    mapping keys are created, so knobs a file leaves at their defaults can still be set; list
    items are addressed by index (`agents.0.backend=scripted`).
    """
    result = copy.deepcopy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ScenarioError(
                f"{source}: --set {override!r}: expected dotted.key=value, e.g. "
                "--set information.disclosure=customer"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        set_dotted(result, key.strip(), value, source)
    return result


def set_dotted(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    """Set `value` at a dotted key path inside nested dicts and lists, in place."""
    parts = dotted.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(
                    f"{source}: --set {dotted}: {here!r} needs a list index below {len(node)}"
                )
            index = int(part)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ScenarioError(
                f"{source}: --set {dotted}: {'.'.join(parts[:depth])!r} holds a value, "
                "not a mapping or list"
            )


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, override and validate a scenario file; raise `ScenarioError` (one line) if bad.

    Files a scenario names (a word-of-mouth edge list) are read relative to the scenario
    file's folder; they are resolved to absolute paths before validation.
    """
    data = apply_overrides(read_yaml(path), overrides, str(path))
    resolve_relative_paths(data, Path(path).resolve().parent)
    scenario = validate_scenario(data, str(path))
    check_referenced_files(scenario, str(path))
    prompt_warnings(scenario, str(path))
    return scenario


def prompt_warnings(scenario: Scenario, source: str) -> list[str]:
    """Render every prompt template once against the scenario; return layout warnings.

    A template that fails to render (an unknown attribute, a sandbox violation) is a
    one-line `ScenarioError` naming the file and the template's dotted key.
    """
    from sim.scenario.prompting import TemplateError, check_prompts

    try:
        return check_prompts(scenario, source)
    except TemplateError as exc:
        raise ScenarioError(f"{source}: {exc.key}: {exc.message}") from None


def resolve_relative_paths(data: dict[str, Any], base: Path) -> None:
    """Make the file paths a raw scenario names absolute, relative to `base`, in place."""
    dynamics = data.get("dynamics")
    wom = dynamics.get("word_of_mouth") if isinstance(dynamics, dict) else None
    network = wom.get("network") if isinstance(wom, dict) else None
    if isinstance(network, dict) and isinstance(network.get("path"), str):
        file = Path(network["path"]).expanduser()
        network["path"] = str(file if file.is_absolute() else base / file)


def check_referenced_files(scenario: Scenario, source: str) -> None:
    """Check the contents of files a scenario names (edge lists name known customers)."""
    dynamics = scenario.dynamics
    if dynamics is None or dynamics.word_of_mouth is None:
        return
    network = dynamics.word_of_mouth.network
    if isinstance(network, EdgeList):
        try:
            read_edge_list(network.path, customer_ids(scenario))
        except ScenarioError as exc:
            raise ScenarioError(f"{source}: dynamics.word_of_mouth.network.path: {exc}") from exc


def validate_scenario(data: Mapping[str, Any], source: str) -> Scenario:
    """Validate a raw mapping as a `Scenario`; `source` names it in error messages."""
    if "schema_version" not in data:
        raise ScenarioError(
            f"{source}: schema_version: missing; add 'schema_version: 1' at the top of the file"
        )
    try:
        return Scenario.model_validate(dict(data))
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {describe_validation_error(exc, data)}") from exc


def scenario_hash(scenario: Scenario) -> str:
    """A stable SHA-256 of the resolved scenario (after overrides), used in manifests."""
    payload = json.dumps(scenario.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()


# --------------------------------------------------------------------------- error wording


def describe_validation_error(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """Turn pydantic's error list into one line about the first error."""
    errors = _without_echoes(exc.errors(include_url=False))
    first = errors[0]
    raw_loc = tuple(first["loc"])
    ctx = first.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, ScenarioValueError):
        line = f"{cause.path}: {cause.message}"
    else:
        path = dotted_path(raw_loc)
        line = f"{path or '(top level)'}: {_describe_one(first, raw_loc)}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return line


def _without_echoes(errors: list[Any]) -> list[Any]:
    """Drop 'too short' errors that only echo a failed item inside the same list."""
    kept = [
        e for e in errors
        if not (
            e["type"] == "too_short"
            and any(o is not e and tuple(o["loc"])[: len(e["loc"])] == tuple(e["loc"])
                    for o in errors)
        )
    ]
    return kept or errors


def dotted_path(loc: Sequence[str | int]) -> str:
    """Join a pydantic error location into a dotted key, dropping internal union tags."""
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, str) and i > 0 and item in UNION_TAGS and isinstance(loc[i - 1], str):
            if loc[i - 1] in ("budget", "attribute_weights", "network"):
                continue
        if isinstance(item, str) and ("[" in item or item.startswith("function-")
                                      or item == "PromptSpec"):  # a union member's name
            continue
        parts.append(str(item))
    return ".".join(parts)


def _describe_one(error: Mapping[str, Any], loc: tuple[str | int, ...]) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return "missing required key; add it (see the scenario reference in README.md)"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        key = str(loc[-1])
        hint = did_you_mean(key, allowed)
        return f"unknown key {key!r}; allowed keys: {', '.join(allowed)}{hint}"
    message = str(error["msg"])
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
        message = f"{message}{did_you_mean(str(value), expected)}"
    elif kind == "union_tag_invalid":
        tags = str((error.get("ctx") or {}).get("expected_tags", ""))
        expected = [t for t in re.findall(r"'([^']*)'", tags) if t not in ("number", "fixed")]
        tag = (error.get("ctx") or {}).get("tag", "")
        field = str((error.get("ctx") or {}).get("discriminator", "")).strip("'")
        noun, key = ("graph kind", "kind") if field == "kind" else ("distribution", "dist")
        message = (
            f"unknown {noun} {tag!r}; use {key}: {' or '.join(e for e in expected)}"
            f"{did_you_mean(str(tag), expected)}"
        )
        return message
    elif kind == "union_tag_not_found":
        return "missing 'kind'; add kind: small_world, scale_free, random or edge_list"
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return f"{message} (got {_short(value)})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """The field names of the model found at `loc` inside a Scenario, in declaration order."""
    model: type[BaseModel] | None = Scenario
    for item in loc:
        if model is None:
            return []
        if isinstance(item, int):
            continue
        if item in model.model_fields:
            model = _model_in(model.model_fields[item].annotation, None)
        else:
            model = _model_in(None, item)
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any, tag: str | None) -> type[BaseModel] | None:
    """Find the pydantic model inside an annotation (or the one a union tag names)."""
    if tag is not None:
        for candidate in vars(schema).values():
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                if candidate.__name__.lower() == tag.lower():
                    return candidate
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg, None)
        if found is not None:
            return found
    return None
