"""Before the first tick: is every server of an `openai` backend there, and does it serve the
model? One `GET <base URL>/models` per URL, with a short timeout.

Without this an unreachable server is found only after a whole tick of retries, and reported
without its URL. Each problem is one line naming the URL and the fix:

- nothing answers (connection refused, unknown host, timeout);
- it answers, but not like an OpenAI-compatible endpoint (a status other than 200, or not
  JSON): usually a base URL missing its `/v1`;
- it refuses the key (401/403);
- it lists its models and the requested one is not among them (the served names are listed).

A server that lists no models at all is not held to the name check.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from agents.errors import BackendCreationError, did_you_mean, one_line

PREFLIGHT_TIMEOUT_S = 5.0
"""Longest wait for one server's model list."""

NAMES_SHOWN = 10
"""Served model names listed in an error, at most."""


def served_models(url: str, *, api_key: str | None = None,
                  timeout_s: float = PREFLIGHT_TIMEOUT_S) -> list[str]:
    """The model names the server at base URL `url` lists; one-line error when it cannot."""
    endpoint = url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    request = urllib.request.Request(endpoint, headers=headers)
    try:
        with _opener(url).open(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise BackendCreationError(
                f"the server at {url} refused the API key (HTTP {exc.code} for GET "
                f"{endpoint}); check --api-key-env") from None
        raise BackendCreationError(
            f"the server at {url} is not an OpenAI-compatible endpoint (HTTP {exc.code} for "
            f"GET {endpoint}); base URLs usually end in /v1, e.g. http://localhost:8000/v1"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise BackendCreationError(
                f"cannot reach the server at {url}: no answer to GET {endpoint} within "
                f"{timeout_s:g}s; check that it is running and --base-url") from None
        raise BackendCreationError(
            f"cannot reach the server at {url} ({one_line(str(reason) or type(exc).__name__)}"
            "); start it (e.g. `vllm serve MODEL`) or fix --base-url") from None
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise BackendCreationError(
            f"the server at {url} answered GET {endpoint} with something other than JSON; "
            "is --base-url an OpenAI-compatible endpoint (ending in /v1)?") from None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return []
    return [str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e]


def _opener(url: str) -> urllib.request.OpenerDirector:
    """A URL opener: no HTTP proxy for a server on this machine, the environment's otherwise."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host in ("localhost", "::1") or host.startswith("127."):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def check_servers(urls: Sequence[str], model: str, *, api_key_env: str | None = None,
                  timeout_s: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Every base URL answers `/models` and, when it lists models, lists `model`."""
    key = os.environ.get(api_key_env, "").strip() or None if api_key_env else None
    for url in urls:
        names = served_models(url, api_key=key, timeout_s=timeout_s)
        if names and model not in names:
            shown = ", ".join(names[:NAMES_SHOWN])
            more = f" (and {len(names) - NAMES_SHOWN} more)" if len(names) > NAMES_SHOWN else ""
            raise BackendCreationError(
                f"the server at {url} does not serve model {model!r}; it serves: {shown}{more}"
                f"{did_you_mean(model, names)}; pass --model with one of these names")
