"""A fast OpenAI-compatible stand-in for the cloud: raw asyncio HTTP/1.1 with keep-alive, one process.

    python -m bench.fast_cloud [--port 0]      # prints "PORT <n>" once listening

tests/standin.py runs a thread per connection inside the caller's process, which at concurrency 16
measures the stand-in rather than what sits in front of it; this one answers in tens of microseconds,
in its own process, so the benchmark load generator and the stand-in do not share a GIL.

`POST .../chat/completions` (JSON, or SSE when "stream": true) answers a fixed short text at once.
Faults are chosen per request by a marker in the last user message, so they stay with the request
they were meant for under concurrency (and on the daemon's retries):

    [fault:http500]  HTTP 500              [fault:http429]  HTTP 429, Retry-After: 1
    [fault:hang]     send nothing, ever    [fault:break]    two SSE chunks, then drop the connection
                                                            (non-streaming: drop before answering)

`GET .../stats` answers {"connections": N}, the TCP connections accepted so far.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from typing import Any

ANSWER = "Sure: here is a short answer from the cloud stand-in."
_FAULT = re.compile(r"\[fault:([a-z0-9]+)\]")


def _fault(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in reversed(messages):
            if isinstance(m, dict) and m.get("role") == "user":
                found = _FAULT.search(str(m.get("content", "")))
                return found.group(1) if found else "ok"
    return "ok"


def _response(code: int, reason: str, payload: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {code} {reason}", "content-type: application/json", f"content-length: {len(payload)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def _completion(body: dict[str, Any]) -> bytes:
    messages = body.get("messages") or []
    n_prompt = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
    payload = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "standin"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": n_prompt,
            "completion_tokens": len(ANSWER.split()),
            "total_tokens": n_prompt + len(ANSWER.split()),
        },
    }
    return json.dumps(payload).encode()


def _sse_chunks(body: dict[str, Any]) -> list[bytes]:
    words = ANSWER.split(" ")
    pieces = [
        " ".join(words[i : i + 3]) + (" " if i + 3 < len(words) else "") for i in range(0, len(words), 3)
    ]
    model = body.get("model", "standin")
    out = []
    for p in pieces:
        event = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}],
        }
        out.append(f"data: {json.dumps(event)}\n\n".encode())
    last = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": len(words), "total_tokens": 1 + len(words)},
    }
    out.append(f"data: {json.dumps(last)}\n\n".encode())
    out.append(b"data: [DONE]\n\n")
    return out


_connections = 0


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global _connections
    _connections += 1
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = ([*lines[0].split(" ", 2), "", ""])[:3]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            raw = await reader.readexactly(length) if length else b""
            if method == "GET" and path.rstrip("/").endswith("/stats"):  # for tests: connections accepted
                writer.write(_response(200, "OK", json.dumps({"connections": _connections}).encode()))
                await writer.drain()
                continue
            if method == "GET" and path.rstrip("/").endswith("/models"):
                writer.write(
                    _response(200, "OK", b'{"object":"list","data":[{"id":"standin","object":"model"}]}')
                )
                await writer.drain()
                continue
            if method != "POST" or not path.split("?")[0].endswith("/chat/completions"):
                writer.write(_response(404, "Not Found", b'{"error": {"message": "not found"}}'))
                await writer.drain()
                continue
            try:
                body = json.loads(raw)
            except ValueError:
                writer.write(_response(400, "Bad Request", b'{"error": {"message": "bad json"}}'))
                await writer.drain()
                continue
            fault = _fault(body)
            if fault == "http500":
                writer.write(_response(500, "Internal Server Error", b'{"error": {"message": "boom"}}'))
            elif fault == "http429":
                writer.write(
                    _response(
                        429, "Too Many Requests", b'{"error": {"message": "slow"}}', {"retry-after": "1"}
                    )
                )
            elif fault == "hang":
                await asyncio.sleep(3600)
                return
            elif body.get("stream"):
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                for n, chunk in enumerate(_sse_chunks(body)):
                    if fault == "break" and n == 2:
                        await writer.drain()
                        writer.transport.abort()
                        return
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                writer.write(b"0\r\n\r\n")
            else:
                if fault == "break":
                    writer.transport.abort()
                    return
                writer.write(_response(200, "OK", _completion(body)))
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _main(port: int) -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    try:
        asyncio.run(_main(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
