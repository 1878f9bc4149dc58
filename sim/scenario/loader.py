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
import reprlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agents.errors import ScenarioError, ScenarioValueError, did_you_mean
from sim.scenario.capacity import check_fits
from sim.scenario.edge_list import customer_ids, read_edge_list
from sim.scenario.error_keys import allowed_keys, member_tag, other_member_hint
from sim.scenario.schema import UNION_TAGS, EdgeList, Scenario

_REQUIRED_TOP_LEVEL = "schema_version, name, products, companies, customers, agents"


MAX_YAML_BYTES = 64 * 2**20
"""Largest scenario or sweep file read."""

MAX_YAML_NODES = 1_000_000
"""Most values a YAML file may expand to (aliases counted each time they are used)."""


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key written twice and bounds alias expansion.

    Plain YAML keeps the last value silently, so `ticks: 20` then `ticks: 3` would run 3
    ticks without a word. Aliases are counted as often as they are used, so a few kilobytes
    of nested aliases cannot expand to gigabytes. Merge keys (`<<: *anchor`) are accepted;
    keys written in the mapping itself override merged ones.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        """Refuse a document that expands to more than `MAX_YAML_NODES` values, then build it."""
        expanded = expanded_size(node, MAX_YAML_NODES)
        if expanded > MAX_YAML_NODES:
            raise yaml.constructor.ConstructorError(
                None, None, f"the file expands to more than {MAX_YAML_NODES} values through "
                "its aliases (&anchor / *alias); write the values out or use fewer aliases",
                node.start_mark)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, raising on a repeated key (with its line and column)."""
        seen: set[Any] = set()
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {_short(key)} appears twice in the same mapping; "
                        "keep one", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def expanded_size(root: yaml.Node, limit: int) -> int:
    """How many values `root` expands to, aliases counted per use; stops early past `limit`.

    Shared nodes are sized once (memoised), so this takes time linear in the file's size even
    when the expansion is exponential.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in open_nodes:
            return limit + 1  # a recursive alias expands without end
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = ([n for pair in node.value for n in pair]
                    if isinstance(node, yaml.MappingNode) else list(node.value))
        if children_done:
            sizes[id(node)] = min(limit + 1, 1 + sum(sizes.get(id(c), 0) for c in children))
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; raise `ScenarioError` with one line if not."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise ScenarioError(f"{path}: is a directory, not a YAML file")
    if not path.is_file():
        raise ScenarioError(f"{path}: is not a regular file (a device, FIFO or socket); name a "
                            "YAML file")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise ScenarioError(f"{path}: the file is larger than {MAX_YAML_BYTES // 2**20} MiB; "
                            "a scenario or sweep file is a few kilobytes (put data in files "
                            "it names)")
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


def load_scenario(path: str | Path, overrides: Sequence[str] = (),
                  allowed_paths: Sequence[str | Path] = ()) -> Scenario:
    """Read, override and validate a scenario file; raise `ScenarioError` (one line) if bad.

    Files a scenario names (a word-of-mouth edge list) are read relative to the scenario
    file's folder and must lie inside it or inside one of `allowed_paths` (`--allow-path`);
    they are resolved to absolute paths before validation.
    """
    data = apply_overrides(read_yaml(path), overrides, str(path))
    resolve_relative_paths(data, Path(path).resolve().parent, str(path), allowed_paths)
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


def resolve_relative_paths(data: dict[str, Any], base: Path, source: str = "",
                           allowed: Sequence[str | Path] = ()) -> None:
    """Resolve and contain the file paths a raw scenario names (see `sim.scenario.data_paths`)."""
    from sim.scenario.data_paths import contained_path

    dynamics = data.get("dynamics")
    wom = dynamics.get("word_of_mouth") if isinstance(dynamics, dict) else None
    network = wom.get("network") if isinstance(wom, dict) else None
    if (isinstance(network, dict) and network.get("kind") == "edge_list"
            and isinstance(network.get("path"), str)):  # other kinds: the schema refuses it
        try:
            network["path"] = str(contained_path(network["path"], base, allowed,
                                                 "edge-list file"))
        except ScenarioError as exc:
            raise ScenarioError(f"{source}: dynamics.word_of_mouth.network.path: {exc}") from exc


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


def check_backend_names(scenario: Scenario, source: str, backend: str | None = None) -> None:
    """Refuse an agent backend name that is not registered, as `run` would (did-you-mean).

    `backend` is the command line's `--backend`, which replaces every agent's.
    """
    from agents.backends.base import available_backends, unknown_backend_message

    known = set(available_backends())
    for i, agent in enumerate(scenario.agents):
        name = backend or agent.backend
        if name not in known:
            key = "--backend" if backend else f"agents.{i}.backend"
            raise ScenarioError(f"{source}: {key}: {unknown_backend_message(name)}")


def validate_scenario(data: Mapping[str, Any], source: str) -> Scenario:
    """Validate a raw mapping as a `Scenario`; `source` names it in error messages."""
    if "schema_version" not in data:
        raise ScenarioError(
            f"{source}: schema_version: missing; add 'schema_version: 1' at the top of the file"
        )
    try:
        scenario = Scenario.model_validate(dict(data))
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {describe_validation_error(exc, data)}") from exc
    check_fits(scenario, source)
    return scenario


def scenario_hash(scenario: Scenario) -> str:
    """A stable SHA-256 of the resolved scenario (after overrides), used in manifests."""
    payload = json.dumps(scenario.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()


# --------------------------------------------------------------------------- error wording


def describe_validation_error(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """Turn pydantic's error list into one line about the first error."""
    errors = _misspelt_first(_without_echoes(exc.errors(include_url=False)))
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


def _misspelt_first(errors: list[Any]) -> list[Any]:
    """Lead with "unknown key 'budjet'; did you mean 'budget'?" over "budget: missing".

    A misspelt required key produces both errors; the unknown key is the one that says what
    to fix, so it goes first when it is close to a missing key of the same mapping.
    """
    from difflib import get_close_matches

    missing = [e for e in errors if e["type"] == "missing"]
    for error in errors:
        if error["type"] != "extra_forbidden":
            continue
        loc = tuple(error["loc"])
        siblings = [str(m["loc"][-1]) for m in missing if tuple(m["loc"])[:-1] == loc[:-1]]
        if get_close_matches(str(loc[-1]), siblings, n=1, cutoff=0.6):
            return [error, *(e for e in errors if e is not error)]
    return errors


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
        allowed = allowed_keys(loc[:-1])
        key = str(loc[-1])
        hint = (did_you_mean(key, allowed)
                or other_member_hint(loc[:-1], key, dotted_path(loc[:-1])))
        return (f"unknown key {key!r}{member_tag(loc[:-1])}; allowed keys: "
                f"{', '.join(allowed)}{hint}")
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


_BOUNDED_REPR = reprlib.Repr()
for _name, _limit in (("maxlevel", 2), ("maxtuple", 4), ("maxlist", 4), ("maxdict", 4),
                      ("maxset", 4), ("maxstring", 50), ("maxother", 50), ("maxlong", 40)):
    setattr(_BOUNDED_REPR, _name, _limit)


def _short(value: Any) -> str:
    """A repr of at most 60 characters that never renders a whole large value."""
    text = _BOUNDED_REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
