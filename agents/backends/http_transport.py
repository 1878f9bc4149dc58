"""A bare HTTP/1.1 keep-alive JSON client on asyncio protocols, parsed by `httptools`.

`ProtocolClient` has `JsonClient`'s interface and answers (`agents.backends.http_client`): the
decoded JSON object, or `HTTPStatusError` (status, the server's message, its headers, so
`retry-after` is honoured) for a status of 400 or more, or `UnreadableResponse` for a body that
is not a JSON object or a response that is not HTTP. Transport faults raise `ConnectionError`
subclasses, which `agents.backends.retry` retries like aiohttp's: `CannotConnect` (refused,
unreachable, unknown host) and `ServerDisconnected` (the connection closed before the
response was complete).

What it leaves out is what makes aiohttp cost several times more CPU per request: no cookie
jar, tracing, redirects, proxies (`server: openai` keeps aiohttp, which reads proxy settings),
compression or per-request timers (the backend's `asyncio.timeout` covers each request).
Bodies may come with `Content-Length`, chunked, or until the server closes; a response with
`Connection: close` closes its connection, and any other is kept for the next request.
A request cancelled mid-way (a timeout) closes its connection, which is never reused.
A request on a reused connection that closes before any byte of the answer arrives (the
server dropped it while idle: uvicorn does after 5 s by default) is sent once more on a
fresh connection (urllib3 does the same for a connection closed while idle); never once a
byte of the answer has come, and never on a fresh connection. The `Host` header keeps an
IPv6 address's brackets.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from agents.backends.http_client import dumps, read_answer
from agents.backends.retry import UnreadableResponse


class CannotConnect(ConnectionError):
    """The server could not be reached (refused, unreachable, unknown host)."""


class ServerDisconnected(ConnectionError):
    """The connection closed before the whole response arrived."""


def available() -> bool:
    """Whether `httptools` is installed (the parser this client needs)."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return False
    return True


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time; httptools calls the `on_*` hooks."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.waiter: asyncio.Future[tuple[int, bytes, dict[str, str]]] | None = None
        self._reset()

    def _reset(self) -> None:
        self.received = False  # whether any byte of the current response has arrived
        self.body: list[bytes] = []
        self.headers: dict[str, str] = {}
        self._name = b""
        self.headers_done = False
        self.keep_alive = True

    # ------------------------------------------------------------------ asyncio
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        import httptools

        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - never asked for
            self._fail(UnreadableResponse("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(UnreadableResponse(f"not an HTTP response ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if self.headers_done and not self._framed():  # a body that ends when the server closes
            self._finish()
            return
        self._fail(ServerDisconnected("the server closed the connection before answering"))

    # ------------------------------------------------------------------ httptools
    def on_header(self, name: bytes, value: bytes) -> None:
        """A header line (httptools may split a long name or value across calls)."""
        if name:
            self._name = name.lower()
            self.headers[self._name.decode("latin-1")] = value.decode("latin-1")
        else:
            key = self._name.decode("latin-1")
            self.headers[key] = self.headers.get(key, "") + value.decode("latin-1")

    def on_headers_complete(self) -> None:
        """The head is in: note whether the connection may be reused."""
        self.headers_done = True
        self.keep_alive = bool(self.parser.should_keep_alive())

    def on_body(self, data: bytes) -> None:
        """A piece of the (de-chunked) body."""
        self.body.append(data)

    def on_message_complete(self) -> None:
        """The whole response is in."""
        self._finish()

    # ------------------------------------------------------------------ helpers
    def _framed(self) -> bool:
        return "content-length" in self.headers or "chunked" in self.headers.get(
            "transfer-encoding", "").lower()

    def _finish(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.body),
                               self.headers))

    def _fail(self, exc: Exception) -> None:
        self.keep_alive = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, request: bytes) -> tuple[int, bytes, dict[str, str]]:
        """Send one request; its status, body and headers."""
        if self.transport is None or self.closed:
            raise ServerDisconnected("the connection was closed before the request was sent")
        self._reset()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.waiter = None

    def usable(self) -> bool:
        """Whether the connection may carry another request."""
        return (self.keep_alive and not self.closed and self.transport is not None
                and not self.transport.is_closing())

    def close(self) -> None:
        """Close the connection."""
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()


class ProtocolClient:
    """Keep-alive JSON POSTs to one base URL over at most `connections` connections; create
    and use it inside one event loop."""

    def __init__(self, base_url: str, api_key: str | None, *, connections: int) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base URL {base_url!r} must be http:// or https://host[:port]")
        self.host = parts.hostname
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path
        name = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 keeps brackets
        host = name if parts.port is None else f"{name}:{parts.port}"
        head = (f"Host: {host}\r\nContent-Type: application/json\r\n"
                "Accept: application/json\r\n")
        if api_key:
            head += f"Authorization: Bearer {api_key}\r\n"
        self._head = head.encode()
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()
        self._slots = asyncio.Semaphore(connections)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                _Connection, self.host, self.port, ssl=self.tls,
                server_hostname=self.host if self.tls else None)
        except OSError as exc:
            raise CannotConnect(f"cannot connect to {self.host}:{self.port}: "
                                f"{exc.strerror or exc}") from exc
        self._open.add(connection)
        return connection

    async def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST `body` to `base_url + path`; the decoded JSON answer (see module docstring)."""
        payload = dumps(body)
        request = (b"POST " + (self.prefix + path).encode() + b" HTTP/1.1\r\n" + self._head
                   + b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
        async with self._slots:
            connection = self._take_idle()
            if connection is None:
                answer = await self._exchange(await self._connect(), request)
            else:
                try:
                    answer = await self._exchange(connection, request)
                except ServerDisconnected:
                    if connection.received:  # part of the answer came: never sent twice
                        raise
                    # a reused connection the server had closed (idle keep-alive timeout):
                    # sent once more on a fresh one
                    answer = await self._exchange(await self._connect(), request)
        return read_answer(*answer)

    def _take_idle(self) -> _Connection | None:
        """A kept-alive connection that still looks open, if any (the others are dropped)."""
        while self._idle:
            candidate = self._idle.pop()
            if candidate.usable():
                return candidate
            self._open.discard(candidate)
        return None

    async def _exchange(self, connection: _Connection, request: bytes
                        ) -> tuple[int, bytes, dict[str, str]]:
        """One request on `connection`, which is kept for the next one when it may be."""
        try:
            answer = await connection.exchange(request)
        except BaseException:
            connection.close()
            self._open.discard(connection)
            raise
        if connection.usable():
            self._idle.append(connection)
        else:
            connection.close()
            self._open.discard(connection)
        return answer

    async def close(self) -> None:
        """Close every connection."""
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports close
