"""A lean JSON-over-HTTP client for OpenAI-compatible servers (aiohttp, orjson, keep-alive).

One `JsonClient` per server URL holds a keep-alive connection pool
(`agents.backends.http_transport.ProtocolClient` is a leaner client with the same interface and
answers). `post` sends one JSON body and returns the decoded JSON answer, or raises:

- `HTTPStatusError` for an answer with status 400 or more (the server's message, status and
  headers, so `agents.backends.retry` can classify it and honour `retry-after`);
- `UnreadableResponse` for a 2xx body that is not JSON, not UTF-8, or not an object;
- aiohttp's connection errors and `TimeoutError` as they come.

A JSON body is decoded with `orjson` when it is installed (several times faster than the
standard library, on both encoding and decoding), else with `json`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agents.backends.retry import HTTPStatusError, UnreadableResponse

try:  # orjson is a core dependency; the fallback keeps a broken install usable
    import orjson

    def dumps(value: Any) -> bytes:
        """`value` as compact UTF-8 JSON bytes."""
        return orjson.dumps(value)

    _loads: Any = orjson.loads
except ImportError:  # pragma: no cover - exercised only without orjson
    def dumps(value: Any) -> bytes:
        """`value` as compact UTF-8 JSON bytes."""
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    _loads = json.loads


def decode_json(raw: bytes) -> Any:
    """Parse a response body; `UnreadableResponse` names what is wrong with it."""
    try:
        return _loads(raw)
    except ValueError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise UnreadableResponse(
                f"body is not valid UTF-8 ({bad.reason} at byte {bad.start}: "
                f"{raw[bad.start:bad.start + 4]!r})") from None
        raise UnreadableResponse(f"body is not JSON ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:120]})") from None


def error_message(raw: bytes) -> str:
    """The human part of an error body: `error.message`, `message`, `detail`, or the text."""
    try:
        data = _loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
    if isinstance(data, Mapping):
        error = data.get("error")
        for holder in (error, data):
            if isinstance(holder, Mapping):
                for key in ("message", "detail"):
                    if isinstance(holder.get(key), str):
                        return holder[key]
        if isinstance(error, str):
            return error
    return raw.decode("utf-8", "replace")


def read_answer(status: int, raw: bytes, headers: Any) -> Any:
    """The decoded JSON object of a response, or the error it stands for (module docstring)."""
    if status >= 400:
        raise HTTPStatusError(status, error_message(raw), headers)
    data = decode_json(raw)
    if not isinstance(data, Mapping):
        raise UnreadableResponse(f"the body is a JSON {type(data).__name__}, not an object")
    return data


class JsonClient:
    """Keep-alive JSON POSTs to one base URL; create and use it inside one event loop."""

    def __init__(self, base_url: str, api_key: str | None, *, connections: int,
                 trust_env: bool = False) -> None:
        """`trust_env` reads proxy settings and `.netrc` from the environment: needed behind
        a corporate proxy to a hosted API, but it costs two thread-pool hops per request."""
        import aiohttp

        self.base_url = base_url.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        connector = aiohttp.TCPConnector(limit=connections, limit_per_host=0,
                                         keepalive_timeout=60, ttl_dns_cache=300)
        self.session = aiohttp.ClientSession(connector=connector, trust_env=trust_env,
                                             timeout=aiohttp.ClientTimeout(total=None),
                                             skip_auto_headers=("User-Agent",),
                                             auto_decompress=True)

    async def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST `body` to `base_url + path`; the decoded JSON answer (see module docstring)."""
        async with self.session.post(self.base_url + path, data=dumps(body),
                                     headers=self.headers) as response:
            raw = await response.read()
            status, headers = response.status, response.headers
        return read_answer(status, raw, headers)

    async def close(self) -> None:
        """Close the pool's connections."""
        await self.session.close()
