"""The keys a scenario mapping allows at a pydantic error location, unions included.

Pydantic puts a discriminated union's tag into an error's location
(`dynamics.word_of_mouth.network.small_world.path`); the tag picks the member model whose
keys are allowed there. A key that belongs to another member of the same union is named with
the tag that takes it (`path` is a key of `kind: edge_list`).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Tag

from sim.scenario import schema

Members = dict[str, tuple[type[BaseModel], str | None]]
"""Union tag -> (member model, the key whose value is the tag, when known)."""


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _union_args(annotation: Any) -> list[Any]:
    """The members of a union, nested unions flattened, each keeping its own `Tag`."""
    inner = _strip_annotated(annotation)
    if not _is_union(inner):
        return [annotation]
    return [arg for member in typing.get_args(inner) for arg in _union_args(member)]


def union_members(annotation: Any) -> Members:
    """Tag -> (model, tag key) for each model member of a (possibly Optional) union; else {}.

    A member's tag is its `Tag(...)` or, for a `Field(discriminator=...)` union, the value of
    its Literal field.
    """
    if not _is_union(_strip_annotated(annotation)):
        return {}
    members: Members = {}
    for arg in _union_args(annotation):
        tags = []
        if typing.get_origin(arg) is Annotated:
            tags = [m.tag for m in typing.get_args(arg)[1:] if isinstance(m, Tag)]
        model = _strip_annotated(arg)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        literals = [(name, str(value)) for name, info in model.model_fields.items()
                    if typing.get_origin(info.annotation) is Literal
                    for value in typing.get_args(info.annotation)]
        key = literals[0][0] if literals else None
        for tag in tags or [value for _, value in literals]:
            members[tag] = (model, key)
    return members


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model inside an annotation (list items, Optional ...), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_in(arg)
        if found is not None:
            return found
    return None


def _model_named(name: str) -> type[BaseModel] | None:
    """The schema model called `name` (pydantic names some union members by class)."""
    for candidate in vars(schema).values():
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if candidate.__name__.lower() == name.lower():
                return candidate
    return None


def model_at(loc: Sequence[str | int]) -> tuple[type[BaseModel] | None, Members]:
    """The model found at `loc` inside a Scenario, and the union members it was picked from."""
    model: type[BaseModel] | None = schema.Scenario
    pending: Any = None  # the annotation of the field just entered
    members: Members = {}
    for item in loc:
        if isinstance(item, int) or (isinstance(item, str) and (
                "[" in item or item.startswith("function-"))):
            continue  # a list index, or a validator wrapper pydantic names
        if pending is not None:
            members = union_members(pending)
            if item in members:
                model, pending = members[item][0], None
                continue
            named = _model_named(str(item))
            model, pending, members = named or model_in(pending), None, {}
            if named is not None:
                continue
        if model is None:
            return None, {}
        if item in model.model_fields:
            pending = model.model_fields[item].annotation
        else:
            model = _model_named(str(item))
    if pending is not None:
        model, members = model_in(pending), {}
    return model, members


def allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """The field names of the model found at `loc` inside a Scenario, in declaration order."""
    model, _ = model_at(loc)
    return list(model.model_fields) if model is not None else []


def other_member_hint(loc: Sequence[str | int], key: str, where: str) -> str:
    """"; path is a key of kind: edge_list; set WHERE.kind=edge_list" for a key another
    member of the union at `loc` takes; "" otherwise. `where` is the union's dotted key."""
    model, members = model_at(loc)
    if model is None or key in model.model_fields:
        return ""
    owners = [(tag, tag_key) for tag, (member, tag_key) in members.items()
              if member is not model and key in member.model_fields]
    if not owners or owners[0][1] is None:
        return ""
    tag_key = owners[0][1]
    tags = " or ".join(tag for tag, _ in owners)
    return f"; {key} is a key of {tag_key}: {tags}; set {where}.{tag_key}={owners[0][0]}"


def member_tag(loc: Sequence[str | int]) -> str:
    """" for kind: small_world" when `loc` ends in a tagged union member; "" otherwise."""
    model, members = model_at(loc)
    for tag, (member, tag_key) in members.items():
        if member is model and tag_key is not None and loc and loc[-1] == tag:
            return f" for {tag_key}: {tag}"
    return ""
