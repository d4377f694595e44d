"""A real OpenAI-compatible HTTP server on 127.0.0.1 standing in for the cloud, with fault injection.

Used by the tests and by the benchmarks. It implements `POST /chat/completions` (JSON and SSE
streaming) and records every request body it received, so tests can assert on what actually left the
daemon. Faults are queued per request (`server.faults.append("http500")`); with none queued it answers.

Fault names:
    ok          answer normally
    http500     HTTP 500
    http429     HTTP 429 with Retry-After: `retry_after` seconds
    http400     HTTP 400 (not retried)
    malformed   HTTP 200 with a body that is not JSON (or, streaming, a broken event)
    hang        accept, then send nothing for `hang_s` seconds
    drip        stream one character every `drip_s` seconds
    break       send part of the answer (two stream chunks, or half the JSON body), then drop the connection
    nodone      streaming: end the stream without [DONE]
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def echo_answer(body: dict[str, Any]) -> str:
    """The default answer: repeats the last user message, so placeholders come back to be restored."""
    last = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"][-1:]
    return "Cloud answer: " + (last[0] if last else "")


class CloudStandIn:
    def __init__(
        self, answer: Callable[[dict[str, Any]], str] = echo_answer, *, chunk_chars: int = 4
    ) -> None:
        self.answer = answer
        self.chunk_chars = chunk_chars
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.faults: deque[str] = deque()
        self.retry_after = 1
        self.hang_s = 30.0
        self.drip_s = 0.5
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, b'{"error": "bad json"}')
                    return
                with standin._lock:
                    standin.requests.append(body)
                    standin.headers.append({k.lower(): v for k, v in self.headers.items()})
                    fault = standin.faults.popleft() if standin.faults else "ok"
                if not self.path.endswith("/chat/completions"):
                    self._send(404, b'{"error": "not found"}')
                    return
                standin._handle(self, body, fault)

            def _send(self, code: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

        self._handler = Handler
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, name="cloud-standin", daemon=True)

    def __enter__(self) -> CloudStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, h: Any, body: dict[str, Any], fault: str) -> None:
        if fault == "http500":
            h._send(500, b'{"error": {"message": "boom"}}')
            return
        if fault == "http429":
            h._send(429, b'{"error": {"message": "slow down"}}', {"retry-after": str(self.retry_after)})
            return
        if fault == "http400":
            h._send(400, b'{"error": {"message": "bad request"}}')
            return
        if fault == "hang":
            time.sleep(self.hang_s)
            return
        text = self.answer(body)
        prompt_tokens = sum(len(m.get("content", "").split()) for m in body.get("messages", []))
        max_tokens = body.get("max_tokens")
        words = text.split(" ")
        finish = "stop"
        if max_tokens is not None and len(words) > max_tokens:
            text, finish = " ".join(words[:max_tokens]), "length"
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split())}
        if not body.get("stream"):
            if fault == "malformed":
                h._send(200, b'{"choices": [ this is not json')
                return
            payload = {
                "id": "chatcmpl-standin",
                "object": "chat.completion",
                "model": body.get("model", "standin"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                ],
                "usage": usage,
            }
            raw = json.dumps(payload).encode()
            if fault == "break":  # promise the whole body, send half, drop the connection
                h.send_response(200)
                h.send_header("content-type", "application/json")
                h.send_header("content-length", str(len(raw)))
                h.end_headers()
                h.wfile.write(raw[: len(raw) // 2])
                h.wfile.flush()
                h.connection.shutdown(2)
                return
            h._send(200, raw)
            return
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("cache-control", "no-cache")
        h.send_header("connection", "close")
        h.end_headers()
        step = 1 if fault == "drip" else self.chunk_chars
        pieces = [text[i : i + step] for i in range(0, len(text), step)]
        try:
            for n, piece in enumerate(pieces):
                if fault == "break" and n == 2:
                    h.wfile.flush()
                    h.connection.shutdown(2)
                    return
                if fault == "malformed" and n == 1:
                    h.wfile.write(b"data: {not json\n\n")
                    h.wfile.flush()
                    continue
                event = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                h.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                h.wfile.flush()
                if fault == "drip":
                    time.sleep(self.drip_s)
            last = {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": usage}
            h.wfile.write(f"data: {json.dumps(last)}\n\n".encode())
            if fault != "nodone":
                h.wfile.write(b"data: [DONE]\n\n")
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True
