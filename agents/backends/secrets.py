"""Keep an API key out of everything tinmen stores: the key and its obvious encodings.

A server may echo the key into an answer (a misconfigured proxy, a prompt-injection page, a
debugging endpoint). Answers are written to transcripts and to the response cache, so every
text a backend returns is scrubbed first: the key itself, its URL-encoded forms, its hex form
and its base64 forms (standard and URL-safe, at each of the three byte alignments it can have
inside a longer encoded string) all become `***`.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from urllib.parse import quote, quote_plus

MASK = "***"
"""What a secret is replaced with."""

_MIN_FRAGMENT = 8
"""Shortest encoded fragment worth matching (shorter ones could hit ordinary text)."""


def _base64_fragments(raw: bytes) -> set[str]:
    """Base64 text that encodes `raw` wherever it sits in a longer byte string."""
    fragments: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            encoded = encode(b"\0" * offset + raw).decode("ascii")
            # characters mixing the padding bytes, or the bytes that follow, are unstable
            start = 4 if offset else 0
            stable = (len(raw) + offset) // 3 * 4
            fragment = encoded[start:stable] if stable > start else ""
            if offset == 0:
                fragments.add(encoded.rstrip("="))
            if len(fragment) >= _MIN_FRAGMENT:
                fragments.add(fragment)
    return fragments


@lru_cache(maxsize=8)
def secret_forms(secret: str) -> tuple[str, ...]:
    """The key and its obvious encodings, longest first (so longer forms are masked first)."""
    raw = secret.encode("utf-8")
    forms = {secret, quote(secret, safe=""), quote_plus(secret), binascii.hexlify(raw).decode(),
             binascii.hexlify(raw).decode().upper()}
    forms |= _base64_fragments(raw)
    return tuple(sorted((f for f in forms if len(f) >= min(len(secret), _MIN_FRAGMENT)),
                        key=len, reverse=True))


def scrub_secret(text: str, secret: str | None) -> str:
    """Replace `secret` and its encodings in `text` with `***` (text unchanged without one)."""
    if not secret or not text:
        return text
    for form in secret_forms(secret):
        if form in text:
            text = text.replace(form, MASK)
    return text
