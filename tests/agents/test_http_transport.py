"""The protocol HTTP client answers, fails and reuses connections like the aiohttp one."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest

from agents.backends.http_client import JsonClient
from agents.backends.http_transport import CannotConnect, ProtocolClient, ServerDisconnected
from agents.backends.openai_server import OpenAIBackend
from agents.backends.options import BackendOptions
from agents.backends.retry import HTTPStatusError, UnreadableResponse, classify
from agents.fake_server import FakeOpenAIServer
from tests.conftest import make_request

ANSWER = json.dumps({"choices": [{"index": 0, "text": "Choice: 1"}]}).encode()


def scripted(responses):
    """A raw TCP server: for the k-th request on any connection, writes responses[k] (bytes,
    or None to close the connection without answering). Returns (coroutine, record)."""
    record = {"connections": 0, "requests": 0}

    async def handle(reader, writer):
        record["connections"] += 1
        while True:
            head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
            if not head:
                break
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            response = responses[min(record["requests"], len(responses) - 1)]
            record["requests"] += 1
            if response is None:
                break
            writer.write(response)
            await writer.drain()
            if b"Connection: close" in response or b"Content-Length" not in response and (
                    b"chunked" not in response):
                break
        writer.close()

    return handle, record


def exchange(responses, posts=1, client_class=ProtocolClient):
    """Post `posts` times, one after the other, to a scripted server; (answers, record)."""
    handle, record = scripted(responses)

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = client_class(f"http://127.0.0.1:{port}/v1", None, connections=4)
        out = []
        for _ in range(posts):
            try:
                out.append(await client.post("/completions", {"prompt": "x"}))
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                out.append(exc)
        await client.close()
        server.close()
        return out

    return asyncio.run(main()), record


def head(status="200 OK", extra=""):
    return f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}".encode()


def test_content_length_bodies_reuse_one_keep_alive_connection():
    response = head(extra=f"Content-Length: {len(ANSWER)}\r\n\r\n") + ANSWER
    answers, record = exchange([response], posts=3)
    assert answers == [json.loads(ANSWER)] * 3
    assert record == {"connections": 1, "requests": 3}


def test_chunked_bodies_are_joined():
    half = len(ANSWER) // 2
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n"
                      for part in (ANSWER[:half], ANSWER[half:])) + b"0\r\n\r\n"
    answers, record = exchange([head(extra="Transfer-Encoding: chunked\r\n\r\n") + chunks],
                               posts=2)
    assert answers == [json.loads(ANSWER)] * 2 and record["connections"] == 1


def test_connection_close_and_bodies_ending_at_close_open_a_new_connection():
    closing = head(extra=f"Content-Length: {len(ANSWER)}\r\nConnection: close\r\n\r\n") + ANSWER
    answers, record = exchange([closing], posts=2)
    assert answers == [json.loads(ANSWER)] * 2 and record["connections"] == 2
    unframed = head(extra="\r\n") + ANSWER  # no length, not chunked: the body ends at close
    answers, record = exchange([unframed], posts=2)
    assert answers == [json.loads(ANSWER)] * 2 and record["connections"] == 2


def test_error_statuses_carry_message_and_retry_after_like_aiohttp():
    body = b'{"error": {"message": "slow down"}}'
    response = head("429 Too Many Requests",
                    f"Retry-After: 7\r\nContent-Length: {len(body)}\r\n\r\n") + body
    for client_class in (ProtocolClient, JsonClient):
        (error,), _ = exchange([response], client_class=client_class)
        assert isinstance(error, HTTPStatusError) and error.status == 429
        verdict = classify(error, 10)
        assert verdict.retryable and verdict.retry_after == 7
        assert verdict.reason == "HTTP 429: slow down"


def test_transport_faults_are_retryable_connection_failures():
    (dropped,), _ = exchange([None])
    assert isinstance(dropped, ServerDisconnected)
    (garbage,), _ = exchange([b"SMTP ready\r\n\r\n"])
    assert isinstance(garbage, UnreadableResponse)
    body = b"[1, 2]"
    (not_object,), _ = exchange([head(extra=f"Content-Length: {len(body)}\r\n\r\n") + body])
    assert isinstance(not_object, UnreadableResponse)

    async def refused():
        client = ProtocolClient("http://127.0.0.1:9/v1", None, connections=1)
        with pytest.raises(CannotConnect) as caught:
            await client.post("/completions", {})
        return caught.value

    for exc in (dropped, asyncio.run(refused())):
        verdict = classify(exc, 10)
        assert verdict.retryable and verdict.reason.startswith("connection failed (")


def test_both_clients_give_the_backend_identical_answers_and_faults():
    requests = [make_request(seed=s, user=f"I need car {s}.") for s in range(12)]

    def fault(body, index):
        return {0: "drop", 1: "429:0", 2: "500", 3: "broken", 4: "badutf8"}.get(index)

    tables = {}
    for client in ("aiohttp", "protocol"):
        with FakeOpenAIServer(fault=fault) as s:
            backend = OpenAIBackend("m", options=BackendOptions(
                base_urls=(s.base_url,), backoff_s=0.01, max_concurrency=1, http_client=client))
            assert backend.describe()["http_client"] == client
            answers = backend.generate(requests)
            backend.close()
        tables[client] = [(a.text, a.prompt_tokens, a.completion_tokens, a.failure)
                          for a in answers]
        assert sum(a.retries for a in answers) == 5
    assert tables["aiohttp"] == tables["protocol"]
    assert all(t[0] for t in tables["protocol"])


def test_auto_picks_the_protocol_client_for_vllm_and_aiohttp_for_hosted_apis():
    vllm = OpenAIBackend("m", options=BackendOptions())
    hosted = OpenAIBackend("m", options=BackendOptions(server="openai"), api_key="k")
    assert (vllm.http_client, hosted.http_client) == ("protocol", "aiohttp")
    vllm.close()
    hosted.close()


def test_a_reused_connection_closed_before_answering_is_resent_once_on_a_fresh_one():
    response = head(extra=f"Content-Length: {len(ANSWER)}\r\n\r\n") + ANSWER
    # the server answers once, then drops the idle connection when the next request comes
    answers, record = exchange([response, None, response], posts=2)
    assert answers == [json.loads(ANSWER)] * 2
    assert record == {"connections": 2, "requests": 3}


def test_a_fresh_connection_or_a_partly_answered_request_is_never_resent():
    (dropped,), record = exchange([None, head(extra="Content-Length: 2\r\n\r\n{}")])
    assert isinstance(dropped, ServerDisconnected) and record["requests"] == 1
    response = head(extra=f"Content-Length: {len(ANSWER)}\r\n\r\n") + ANSWER
    cut = head(extra=f"Content-Length: {len(ANSWER)}\r\nConnection: close\r\n\r\n") + ANSWER[:5]
    answers, record = exchange([response, cut, response], posts=2)
    assert answers[0] == json.loads(ANSWER) and isinstance(answers[1], ServerDisconnected)
    assert record["requests"] == 2


def idle_closing_server():
    """A chat server that answers the first request on each connection and closes the
    connection, unanswered, when a second request arrives on it (what a keep-alive timeout
    does to a connection left idle). Returns (handler, record)."""
    body = json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "It fits.\nChoice: 1"}}]}).encode()
    response = head(extra=f"Content-Length: {len(body)}\r\n\r\n") + body
    record = {"connections": 0, "requests": 0}

    async def handle(reader, writer):
        record["connections"] += 1
        for answered in (True, False):
            try:
                request_head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = next(int(line.split(b":")[1]) for line in request_head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            record["requests"] += 1
            if not answered:
                break
            writer.write(response)
            await writer.drain()
        writer.close()

    return handle, record


def serve_in_thread(handle, host="127.0.0.1"):
    """Start an asyncio server for `handle` in a thread; (port, stop)."""
    loop = asyncio.new_event_loop()
    ready, port = threading.Event(), []
    stopping = asyncio.Event()

    async def serve():
        server = await asyncio.start_server(handle, host, 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        await stopping.wait()
        server.close()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    ready.wait(10)

    def stop():
        loop.call_soon_threadsafe(stopping.set)
        thread.join(10)
        loop.close()

    return port[0], stop


def test_a_backend_with_no_retries_survives_an_idle_closed_keep_alive_connection():
    handle, record = idle_closing_server()
    port, stop = serve_in_thread(handle)
    try:
        backend = OpenAIBackend("m", options=BackendOptions(
            base_urls=(f"http://127.0.0.1:{port}/v1",), max_retries=0, max_concurrency=1,
            http_client="protocol"))
        answers = []
        for seed in range(3):  # one tick after another on the kept-alive connection
            answers += backend.generate([make_request(seed=seed)])
        backend.close()
    finally:
        stop()
    assert [a.failure for a in answers] == [None] * 3
    assert all(a.text.endswith("Choice: 1") and a.attempts == 1 for a in answers)
    assert record == {"connections": 3, "requests": 5}  # 2 sent on a connection it closed


def has_ipv6_loopback() -> bool:
    """Whether ::1 can be bound here."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_an_ipv6_base_url_sends_its_host_header_in_brackets():
    seen = []

    async def handle(reader, writer):
        request_head = await reader.readuntil(b"\r\n\r\n")
        seen.extend(line for line in request_head.decode().split("\r\n")
                    if line.lower().startswith("host:"))
        length = next(int(line.split(b":")[1]) for line in request_head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(head(extra=f"Content-Length: {len(ANSWER)}\r\n\r\n") + ANSWER)
        await writer.drain()
        writer.close()

    port, stop = serve_in_thread(handle, host="::1")

    async def post():
        client = ProtocolClient(f"http://[::1]:{port}/v1", None, connections=1)
        try:
            return await client.post("/completions", {"prompt": "x"})
        finally:
            await client.close()

    try:
        assert asyncio.run(post()) == json.loads(ANSWER)
    finally:
        stop()
    assert seen == [f"Host: [::1]:{port}"]
