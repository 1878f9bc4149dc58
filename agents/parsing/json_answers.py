"""Choices held in JSON objects, fenced or bare, and in almost-JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from agents.parsing.catalogue import _Catalogue
from agents.parsing.results import _REFUSAL_READ, _Read
from agents.parsing.text import _plain
from agents.parsing.values import _read_value

# --------------------------------------------------------------------------- JSON

# Keys that can hold the choice, normalised (lower case, letters and digits only), in order
# of preference when an object has several.
_JSON_KEYS = (
    "choice",
    "finalchoice",
    "mychoice",
    "productchoice",
    "selection",
    "selectedproduct",
    "selectedproductid",
    "selectedid",
    "chosenproduct",
    "chosenproductid",
    "productid",
    "productnumber",
    "productno",
    "product",
    "selected",
    "chosen",
    "pick",
    "option",
    "optionid",
    "recommendation",
    "recommendedproduct",
    "recommendedproductid",
    "purchase",
    "decision",
    "answer",
    "itemid",
    "item",
)
_JSON_KEY_RANK = {key: rank for rank, key in enumerate(_JSON_KEYS)}
# Inside a nested product object: {"product": {"id": 2, "name": "Ford Explorer"}}.
_JSON_NESTED_KEYS = ("id", "number", "productid", "choice", "name", "title", "product")
_JSON_MAX_STARTS = 64  # "{" positions tried; bounds the work on junk input
_LOOSE_JSON_RE = re.compile(
    r"""["']([a-z_][\w \-]{0,39})["']\s*[:=]\s*"""
    r"""(null|none|"[^"\n]{0,200}"|'[^'\n]{0,200}'|-?\d{1,30}(?![\d.e]))""",
    re.IGNORECASE,
)
_KEY_JUNK_RE = re.compile(r"[^a-z0-9]")


def _read_json(text: str, catalogue: _Catalogue) -> _Read | None:
    """The choice held by the last JSON object that has one, or None."""
    if "{" not in text:
        return None
    found = None
    for obj in _json_objects(text):
        read = _read_json_object(obj, catalogue, 0)
        if read is not None:
            found = read  # the last object wins, as with choice lines
    return found if found is not None else _read_loose_json(text, catalogue)


def _json_objects(text: str) -> Iterator[dict[Any, Any]]:
    """Every JSON object embedded in the text (fenced or not), in order."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    tries = 0
    while start != -1 and tries < _JSON_MAX_STARTS:
        tries += 1
        try:
            obj, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            start = text.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            yield obj
        start = text.find("{", end)


def _norm_key(key: str) -> str:
    """A JSON key reduced to lower-case letters and digits ("Product ID" -> "productid")."""
    return _KEY_JUNK_RE.sub("", key.lower())


def _read_json_object(obj: dict[Any, Any], catalogue: _Catalogue, depth: int) -> _Read | None:
    """The choice in one JSON object, looking into nested objects when it has no choice key."""
    if depth > 3:
        return None
    keyed = {_norm_key(k): v for k, v in obj.items() if isinstance(k, str)}
    for key in _JSON_KEYS:
        if key in keyed:
            read = _read_json_value(keyed[key], catalogue, depth)
            if read is not None:
                return read
    for value in obj.values():
        if isinstance(value, dict):
            read = _read_json_object(value, catalogue, depth + 1)
            if read is not None:
                return read
    return None


def _read_json_value(value: Any, catalogue: _Catalogue, depth: int) -> _Read | None:
    """Read the value of a choice key: int, numeric string, name, null, or a product object."""
    if value is None:
        return _REFUSAL_READ
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _Read("number", value)
    if isinstance(value, float):
        return _Read("number", int(value)) if value.is_integer() else None
    if isinstance(value, str):
        return _read_value(_plain(value), catalogue)
    if isinstance(value, list) and len(value) == 1:
        return _read_json_value(value[0], catalogue, depth + 1)
    if isinstance(value, dict) and depth < 3:
        keyed = {_norm_key(k): v for k, v in value.items() if isinstance(k, str)}
        for key in _JSON_NESTED_KEYS:
            if key in keyed and keyed[key] is not None:
                read = _read_json_value(keyed[key], catalogue, depth + 1)
                if read is not None:
                    return read
    return None


def _read_loose_json(text: str, catalogue: _Catalogue) -> _Read | None:
    """Almost-JSON (single quotes, Python None): the best-ranked quoted key, last if tied."""
    best: tuple[int, _Read] | None = None
    for match in _LOOSE_JSON_RE.finditer(text):
        rank = _JSON_KEY_RANK.get(_norm_key(match.group(1)))
        if rank is None:
            continue
        raw = match.group(2)
        if raw.lower() in ("null", "none"):
            read: _Read | None = _REFUSAL_READ
        elif raw[0] in "\"'":
            read = _read_value(_plain(raw[1:-1]), catalogue)
        else:
            read = _Read("number", int(raw))
        if read is not None and (best is None or rank <= best[0]):
            best = (rank, read)
    return best[1] if best is not None else None
