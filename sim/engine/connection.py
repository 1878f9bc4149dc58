"""Stop early when the servers are gone: a tick whose every request failed to connect.

The preflight (`agents.backends.preflight`) finds a server that is down before the first
tick; this finds one that goes down during a run, after one tick instead of after all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.backends.base import Backend
from agents.types import Completion

CONNECTION_FAILURE = "connection failed"
"""What the HTTP backends' failure reasons say when a request could not reach its server."""


def unreachable_servers(completions: Sequence[Completion], backends: Sequence[Backend]
                        ) -> list[str]:
    """The base URLs of the backends, when every request failed to connect; else []."""
    if not completions or not all(
            c.failure is not None and CONNECTION_FAILURE in c.failure for c in completions):
        return []
    urls: list[str] = []
    for backend in {id(b): b for b in backends}.values():
        for url in backend.describe().get("base_urls") or ():
            if url not in urls:
                urls.append(str(url))
    return urls or ["the backend's server"]
