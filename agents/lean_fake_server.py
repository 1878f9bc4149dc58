"""A lean zero-latency OpenAI-compatible server, for client throughput benchmarks.

`agents.fake_server` records every request and injects faults; that bookkeeping (and
aiohttp's request objects) costs more CPU per request than a lean client does, so it would
be what a throughput benchmark measures. This server answers the same way
(`agents.fake_server.default_answer`, a function of each prompt and the request's seed; sample i
of a request with `n` gets seed + i, as vLLM) with a bare asyncio protocol: HTTP/1.1
keep-alive, `Content-Length` bodies, `/v1/chat/completions` and `/v1/completions` (prompt
lists, `n`, vLLM's `return_token_ids`), nothing else. Several
processes can share one port (`--processes`, SO_REUSEPORT).

    python -m agents.lean_fake_server --port 8000 --processes 2
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import time
from typing import Any

from agents.backends.http_client import decode_json, dumps
from agents.fake_server import default_answer, prompt_text, sample_bodies

_HEAD_END = b"\r\n\r\n"


def answer_body(path: bytes, body: dict[str, Any]) -> dict[str, Any]:
    """The JSON answer to one request body (see the module docstring)."""
    chat = path.endswith(b"chat/completions")
    if chat:
        prompts = [prompt_text(body)]
    else:
        raw = body.get("prompt", "")
        prompts = list(raw) if isinstance(raw, list) else [str(raw)]
    asked = [(one, p) for p in prompts for one in sample_bodies(body)]  # prompt-major
    texts = [default_answer(one, p) for one, p in asked]
    words = [len(p.split()) for _, p in asked], [len(t.split()) for t in texts]
    usage = {"prompt_tokens": sum(len(p.split()) for p in prompts),  # once per prompt
             "completion_tokens": sum(words[1])}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if chat:
        choices: list[dict[str, Any]] = [{"index": i, "finish_reason": "stop", "message": {
            "role": "assistant", "content": t}} for i, t in enumerate(texts)]
    else:
        choices = [{"index": i, "finish_reason": "stop", "text": t} for i, t in enumerate(texts)]
    if body.get("return_token_ids"):
        for i, choice in enumerate(choices):
            if not chat:
                choice["prompt_token_ids"] = list(range(words[0][i]))
            choice["token_ids"] = list(range(words[1][i]))
    return {"id": "lean", "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()), "model": body.get("model", "fake"),
            "choices": choices, "usage": usage}


class _Connection(asyncio.Protocol):
    """One keep-alive connection: parse requests from the byte stream, answer each."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(_HEAD_END)
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            start = end + len(_HEAD_END)
            if len(self.buffer) < start + length:
                return
            raw, self.buffer = self.buffer[start:start + length], self.buffer[start + length:]
            path = head.split(b" ", 2)[1]
            try:
                payload, status = dumps(answer_body(path, decode_json(raw))), b"200 OK"
            except Exception as exc:  # noqa: BLE001 - a bad request gets a 400, not a crash
                payload = dumps({"error": {"message": f"{type(exc).__name__}: {exc}"}})
                status = b"400 Bad Request"
            self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json"
                                 b"\r\nContent-Length: " + str(len(payload)).encode()
                                 + b"\r\n\r\n" + payload)


def _bound_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve(host: str, port: int) -> None:
    """Serve forever on (host, port), sharing the port with sibling processes."""
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    sock = _bound_socket(host, port)
    server = loop.run_until_complete(
        loop.create_server(_Connection, sock=sock, backlog=4096))
    try:
        loop.run_until_complete(server.serve_forever())
    except KeyboardInterrupt:
        pass


def main() -> None:
    """Serve until interrupted; prints the base URL once every process listens."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    port = args.port
    if port == 0:  # pick one now, so every process binds the same
        probe = _bound_socket(args.host, 0)
        port = probe.getsockname()[1]
        probe.close()
    children = [multiprocessing.Process(target=serve, args=(args.host, port), daemon=True)
                for _ in range(args.processes)]
    for child in children:
        child.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # ready once a connection is accepted
        try:
            socket.create_connection((args.host, port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    print(f"lean fake server at http://{args.host}:{port}/v1 ({args.processes} processes, "
          f"pid {os.getpid()})", flush=True)
    try:
        for child in children:
            child.join()
    except KeyboardInterrupt:
        for child in children:
            child.terminate()


if __name__ == "__main__":
    main()
