"""Generate the scenario-file reference (README section) from the schema's descriptions.

`tinmen schema` prints it; a test checks that README.md holds the current text, so the docs
cannot drift from the code.
"""

from __future__ import annotations

import typing
from types import UnionType
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sim.scenario import schema as config

SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("top level", config.Scenario),
    ("run", config.RunSettings),
    ("information", config.InformationStructure),
    ("information.attributes.NAME", config.AttributeVisibility),
    ("prompt (and prompts.NAME, agents[].prompt)", config.PromptSpec),
    ("prompt.messages[]", config.PromptMessage),
    ("products[]", config.Product),
    ("companies[]", config.Company),
    ("companies[].utility", config.CompanyUtility),
    ("customers[]", config.CustomerGroup),
    ("agents[]", config.AgentSpec),
    ("agents[].backend_options", config.BackendOptions),
    ("agents[].sampling", config.Sampling),
    ("agents[].rational", config.RationalParams),
    ("agents[].contract", config.Contract),
    ("dynamics", config.Dynamics),
    ("dynamics.trust", config.TrustSettings),
    ("dynamics.switching", config.SwitchingSettings),
    ("dynamics.word_of_mouth", config.WordOfMouth),
    ("dynamics.word_of_mouth.network (kind: small_world)", config.SmallWorld),
    ("dynamics.word_of_mouth.network (kind: scale_free)", config.ScaleFree),
    ("dynamics.word_of_mouth.network (kind: random)", config.RandomGraph),
    ("dynamics.word_of_mouth.network (kind: edge_list)", config.EdgeList),
    ("dynamics.sanctions", config.Sanctions),
    ("distributions (budget, attribute_weights)", config.LogNormal),
)

BEGIN = "<!-- scenario-reference:begin -->"
END = "<!-- scenario-reference:end -->"


def type_name(annotation: Any) -> str:
    """A short, readable name for a field's type."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        key, value = typing.get_args(annotation)
        return f"map {type_name(key)} -> {type_name(value)}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return annotation.__name__
        return {"str": "text", "float": "number", "int": "integer", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__)
    return str(annotation)


def default_text(field: FieldInfo) -> str:
    """The field's default as YAML would write it, or 'required'."""
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        return "see below" if isinstance(value, BaseModel) else repr(value)
    if field.default is PydanticUndefined or field.default is None:
        return "null"
    value = field.default
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def section_markdown(title: str, model: type[BaseModel]) -> str:
    """A markdown table of one model's fields."""
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    lines = [f"#### `{title}`", "", doc, "", "| key | type | default | meaning |",
             "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        kind = type_name(field.annotation).replace("|", "\\|")
        lines.append(f"| `{name}` | {kind} | {default_text(field)} | {meaning} |")
    return "\n".join(lines)


def scenario_reference() -> str:
    """The whole scenario-file reference, as markdown."""
    parts = [section_markdown(title, model) for title, model in SECTIONS]
    parts.append(section_markdown("uniform distribution", config.Uniform))
    parts.append(section_markdown("dirichlet distribution", config.Dirichlet))
    return "\n\n".join(parts) + "\n"
