"""Prompt templates: a scenario's prompt written as sandboxed Jinja2 templates.

A prompt is any number of chat messages, each a template, plus the template of one listing
line, the separator that joins listing lines, and one disclosure note per disclosure
condition. Templates render in `jinja2.sandbox.SandboxedEnvironment` with `StrictUndefined`
and `keep_trailing_newline=True`: text renders byte for byte as written, a name that is not
defined is an error, and a template cannot read files, import or call arbitrary code.

Speed: a template is compiled once (cached by its source). Messages that name no
per-decision variable (`customer`, `disclosure`, `disclosure_note`, `tick`) render once per
(agent, listing order) and are reused; the listing is rendered once per (agent, order) too.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
import yaml
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from agents.types import Message

ROLES = ("system", "user", "assistant")

DECISION_NAMES = frozenset({"customer", "disclosure", "disclosure_note", "tick"})
"""Names whose value changes from one decision to the next."""

SHARED_NAMES = frozenset({"listing", "products", "company", "agent", "contract"})
"""Names whose value is the same for every decision of one agent with one listing order."""

MESSAGE_NAMES = SHARED_NAMES | DECISION_NAMES
"""Names a message template may use."""

NOTE_NAMES = MESSAGE_NAMES - {"disclosure_note"}
"""Names a disclosure note may use."""

ITEM_NAMES = frozenset({"number", "product", "company", "agent", "contract"})
"""Names a listing-line template may use."""


class TemplateError(ValueError):
    """A template that cannot be compiled or rendered; `key` is its dotted place."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def format_amount(amount: float) -> str:
    """Format money the way a shop would: 40,000 or 9.99."""
    if float(amount).is_integer():
        return f"{int(amount):,}"
    return f"{amount:,.2f}"


def money(amount: float, symbol: str = "") -> str:
    """The `money` filter: 40000 -> 40,000, 9.99 -> 9.99, with an optional currency symbol."""
    return f"{symbol}{format_amount(amount)}"


def format_attribute(name: str, value: bool | float) -> str:
    """Render one attribute: booleans as yes/no, numbers compactly."""
    if isinstance(value, bool):
        return f"{name}: {'yes' if value else 'no'}"
    return f"{name}: {value:g}"


def seller_text_for_listing(text: str) -> str:
    """The one place seller text passes through before it enters a template.

    Seller text is shown verbatim (stripped); any escaping that keeps it from forging
    listing lines belongs here, so that every template receives the same safe text.
    """
    return text.strip()


@functools.lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """The one sandboxed environment every template compiles in."""
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                               autoescape=False, loader=None)
    env.filters["money"] = money
    return env


def names_used(source: str) -> frozenset[str]:
    """Free names a template refers to (raises jinja2.TemplateSyntaxError if it cannot parse)."""
    return frozenset(meta.find_undeclared_variables(environment().parse(source)))


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return environment().from_string(source)


def compile_template(source: str, key: str, allowed: Iterable[str]) -> jinja2.Template:
    """Compile `source` once (cached); raise `TemplateError` naming `key` when it is bad."""
    try:
        used = names_used(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(key, f"template does not parse: {exc.message} (line {exc.lineno})"
                            ) from None
    allowed = frozenset(allowed) | frozenset(environment().globals)
    unknown = sorted(used - allowed)
    if unknown:
        raise TemplateError(key, f"unknown name {unknown[0]!r} in template; available: "
                            + ", ".join(sorted(allowed - frozenset(environment().globals))))
    return _compile(source)


def template_context(names: Mapping[str, Any]) -> dict[str, Any]:
    """A render context: the environment's globals (`range`, `namespace`, ...) plus `names`.

    `render` uses the context as it is (no copy per render), so every context passed to it
    must start from this one.
    """
    return {**environment().globals, **names}


def render(template: jinja2.Template, context: Mapping[str, Any], key: str) -> str:
    """Render a compiled template; any failure becomes a one-line `TemplateError`.

    The context is used as given (`shared=True`), built by `template_context`: copying the
    environment's globals into a fresh dict per render would cost more than the render.
    """
    try:
        return "".join(template.root_render_func(template.new_context(context, shared=True)))
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(key, f"template is not allowed to do that: {exc}") from None
    except jinja2.TemplateError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TemplateError(key, f"template failed to render: {message}") from None
    except Exception as exc:  # noqa: BLE001 - a template error must be one line, not a trace
        raise TemplateError(key, f"template failed to render: {type(exc).__name__}: {exc}"
                            ) from None


@dataclass(frozen=True, slots=True)
class PromptTemplates:
    """The text of a prompt: message templates, listing line, separator, disclosure notes."""

    messages: tuple[tuple[str, str], ...]  # (role, template)
    listing_item: str
    listing_separator: str
    disclosure_notes: Mapping[str, str]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PromptTemplates:
        """Build from the scenario file's `prompt` mapping (already validated)."""
        return cls(messages=tuple((m["role"], m["template"]) for m in data["messages"]),
                   listing_item=data["listing_item"],
                   listing_separator=data.get("listing_separator", "\n"),
                   disclosure_notes=dict(data["disclosure_notes"]))


@functools.lru_cache(maxsize=1)
def default_prompt_data() -> dict[str, Any]:
    """The shipped default prompt (agents/prompt_templates/default.yaml) as a mapping."""
    text = resources.files("agents").joinpath("prompt_templates/default.yaml").read_text(
        encoding="utf-8")
    return yaml.safe_load(text)


def default_templates() -> PromptTemplates:
    """The shipped default prompt: exactly the prompt tinmen has always sent."""
    return PromptTemplates.from_mapping(default_prompt_data())


def listing_product(number: int, product: Mapping[str, Any],
                    visible: Sequence[str] | None = None) -> dict[str, Any]:
    """A product as a listing template sees it: `visible` limits the attributes shown."""
    attributes = product.get("attributes", {})
    if visible is not None:
        attributes = {k: v for k, v in attributes.items() if k in visible}
    return {
        "number": number, "id": product["id"], "name": product["name"],
        **({"price": product["price"]} if "price" in product else {}),
        "description": product.get("description", ""),
        "attributes": attributes,
        "attribute_text": ", ".join(format_attribute(k, v) for k, v in attributes.items()),
        "seller_text": seller_text_for_listing(product.get("seller_text", "")),
        "fields": product.get("fields", {}),
        **({"margin": product["margin"]} if "margin" in product else {}),
    }


class CompiledPrompt:
    """A prompt's templates compiled once, and which of its messages are shared."""

    def __init__(self, templates: PromptTemplates, key: str = "prompt",
                 disclosures: Iterable[str] = ()) -> None:
        self.templates = templates
        self.key = key
        self.item = compile_template(templates.listing_item, f"{key}.listing_item", ITEM_NAMES)
        self.messages: list[tuple[str, jinja2.Template, bool]] = []
        self.per_customer: list[bool] = []
        """Per message: it depends only on the customer, the disclosure and the agent."""
        for i, (role, source) in enumerate(templates.messages):
            where = f"{key}.messages.{i}.template"
            if role not in ROLES:
                raise TemplateError(f"{key}.messages.{i}.role",
                                    f"unknown role {role!r}; use one of {', '.join(ROLES)}")
            template = compile_template(source, where, MESSAGE_NAMES)
            used = names_used(source)
            self.messages.append((role, template, not used & DECISION_NAMES))
            self.per_customer.append(bool(used & DECISION_NAMES)
                                     and not used & {"tick", "listing", "products"})
        self.notes: dict[str, tuple[jinja2.Template, bool]] = {}
        for condition, source in templates.disclosure_notes.items():
            where = f"{key}.disclosure_notes.{condition}"
            self.notes[condition] = (compile_template(source, where, NOTE_NAMES),
                                     not names_used(source) & DECISION_NAMES)
        for condition in disclosures:
            if condition not in self.notes:
                raise TemplateError(f"{key}.disclosure_notes",
                                    f"no note for disclosure condition {condition!r}; add "
                                    f"disclosure_notes.{condition}")

    def listing(self, products: Sequence[Mapping[str, Any]], shared: Mapping[str, Any]) -> str:
        """Render the listing: one line per product, joined by the separator."""
        lines = [render(self.item, {**shared, "number": p["number"], "product": p},
                        f"{self.key}.listing_item") for p in products]
        return self.templates.listing_separator.join(lines)

    def shared_parts(self, shared: Mapping[str, Any]) -> list[str | None]:
        """Render the messages that name no per-decision variable (None for the others)."""
        return [render(t, shared, f"{self.key}.messages.{i}.template") if is_shared else None
                for i, (_, t, is_shared) in enumerate(self.messages)]

    def note(self, disclosure: str, context: Mapping[str, Any]) -> str:
        """Render the disclosure note for one condition."""
        template, _ = self.notes[disclosure]
        return render(template, context, f"{self.key}.disclosure_notes.{disclosure}")

    def render_message(self, index: int, context: Mapping[str, Any]) -> str:
        """Render message `index` in a full context."""
        return render(self.messages[index][1], context,
                      f"{self.key}.messages.{index}.template")

    def messages_for(self, shared_parts: Sequence[str | None], context: Mapping[str, Any]
                     ) -> tuple[Message, ...]:
        """The chat messages of one decision, reusing the shared parts already rendered."""
        return tuple(
            {"role": role, "content": done if done is not None
             else self.render_message(i, context)}
            for i, ((role, _, _), done) in enumerate(zip(self.messages, shared_parts,
                                                        strict=True)))

    def decision_text_before_listing(self) -> str | None:
        """The key of the first template putting per-decision text before the listing, if any.

        A prefix cache reuses only what requests share from their start, so per-decision
        text (the customer, the disclosure note, the tick) belongs after the listing.
        """
        for i, (_, source) in enumerate(self.templates.messages):
            names = _name_tokens(source)
            first_listing = next((p for p, n in names if n in ("listing", "products")), None)
            first_decision = next((p for p, n in names if n in DECISION_NAMES), None)
            if first_decision is not None and (first_listing is None
                                               or first_decision < first_listing):
                if first_listing is not None or self._listing_after(i):
                    return f"{self.key}.messages.{i}.template"
            if first_listing is not None:
                return None
        return None

    def _listing_after(self, index: int) -> bool:
        return any({"listing", "products"} & names_used(source)
                   for _, source in self.templates.messages[index + 1:])


def _name_tokens(source: str) -> list[tuple[int, str]]:
    """(position, name) of every name token in a template, in order."""
    out = []
    for position, (_, kind, value) in enumerate(environment().lex(source)):
        if kind == "name":
            out.append((position, value))
    return out
