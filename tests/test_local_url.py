"""A local runtime over HTTP as the local tier (issue #19, item 2): `--local-url` / `--local-model`.

The runtime is llama-cpp-python's own OpenAI server, started by the test on 127.0.0.1 with the default
model; the daemon is real (gRPC on a Unix socket and the HTTP door on an ephemeral port). Faults a real
runtime will not produce on demand (a hang, a 500, a cut stream, log-probabilities) come from a small
hand-written HTTP server on 127.0.0.1. Nothing is mocked.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from router import backends
from router.backends.openai_http import OpenAIHttpBackend, check_local_url
from router.client import ClientError, RouterClient, StreamEnd
from router.config import build_settings
from router.errors import BackendError, ConfigError, LocalUnavailable
from router.types import GenerationOptions, Message
from tests.conftest import DaemonRunner
from tests.standin import CloudStandIn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Runtime:
    url: str
    model: str


@pytest.fixture(scope="session")
def runtime(model_path: Path) -> Iterator[Runtime]:
    """llama-cpp-python's OpenAI server (`pip install fastapi uvicorn sse-starlette starlette-context`,
    the dev extra) with the default model, for the whole session."""
    pytest.importorskip("llama_cpp")
    for module in ("fastapi", "uvicorn", "sse_starlette", "starlette_context"):
        pytest.importorskip(module, reason="llama_cpp.server needs the dev extra's web packages")
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {Path(log.name).read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start within 120 s")
            time.sleep(0.2)
        yield Runtime(url, str(model_path))  # the server lists the model by its path
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        Path(log.name).unlink(missing_ok=True)


@pytest.fixture
def start_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., DaemonRunner]]:
    """A daemon that builds its own local backend from its settings, as `router serve` does."""
    monkeypatch.delenv("ROUTER_MODEL", raising=False)
    runners: list[DaemonRunner] = []

    def start(**settings: Any) -> DaemonRunner:
        settings.setdefault("state_dir", tmp_path / f"state{len(runners)}")
        settings.setdefault("socket", Path(tempfile.mkdtemp(prefix="hr-", dir="/tmp")) / "router.sock")
        runner = DaemonRunner(None, **settings)
        runners.append(runner)
        return runner.start()

    yield start
    for runner in runners:
        runner.stop()


# --- through the daemon, with a real runtime ------------------------------------------------------


def test_daemon_answers_locally_through_the_runtime(runtime: Runtime, start_daemon: Any) -> None:
    with capture_logs() as logs:
        runner = start_daemon(
            local_url=runtime.url,
            local_model=runtime.model,
            default_max_tokens=16,
            http_listen="127.0.0.1:0",
            insecure=True,
        )
    engine = runner.daemon.engine
    assert engine.backend.info.backend == "openai_http"
    off = {e["capability"]: e for e in logs if e["event"] == "local_capability_off"}
    assert set(off) == {"hidden_state", "logprobs", "exact_tokens"}  # each said once, with why
    assert "hidden state" in off["hidden_state"]["why"]
    assert "logits_all" in off["logprobs"]["why"]

    with RouterClient(socket=runner.socket, timeout=120) as client:
        reply = client.route("What is the capital of France?", max_tokens=12, temperature=0.0)
        assert reply.decision.route == "local"
        assert reply.decision.stage == "features"  # no hidden state: stage 1 alone, never the model stage
        assert reply.text.strip()
        assert reply.completion_tokens > 0
        assert reply.decision.model == runtime.model

        events = list(client.stream("Name three primary colours.", max_tokens=12, temperature=0.0))
        text = "".join(e for e in events if isinstance(e, str))
        end = events[-1]
        assert isinstance(end, StreamEnd)
        assert end.decision.route == "local"
        assert text.strip()
        assert end.finish_reason in ("stop", "length")

        # The same answer as asking the runtime directly (greedy).
        direct = httpx.post(
            f"{runtime.url}/chat/completions",
            json={
                "model": runtime.model,
                "messages": [{"role": "user", "content": "What is the capital of France?"}],
                "max_tokens": 12,
                "temperature": 0.0,
                "top_p": 1.0,
            },
            timeout=120,
        ).json()
        assert reply.text == direct["choices"][0]["message"]["content"]

    # The HTTP door, over the same backend: unary and streaming.
    base = runner.daemon.http_addresses[-1]
    with httpx.Client(base_url=base, timeout=120) as h:
        body = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
        r = h.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        assert r.headers["x-router-route"] == "local"
        assert r.json()["choices"][0]["message"]["content"].strip()
        chunks = []
        with h.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as s:
            assert s.status_code == 200
            for line in s.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    chunks.append(json.loads(line[6:]))
        streamed = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
        assert streamed.strip()


def test_router_model_info_says_what_is_off(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from router.cli import cli

    monkeypatch.delenv("ROUTER_MODEL", raising=False)
    result = CliRunner().invoke(
        cli, ["model", "info", "--local-url", runtime.url, "--local-model", runtime.model]
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split("\t", 1) for line in result.output.splitlines())
    assert lines["backend"] == "openai_http"
    assert lines["where"] == runtime.url
    assert lines["hidden_state"].startswith("off: complexity model stage off")
    assert lines["logprobs"].startswith("off: the low_confidence answer check is off")
    assert lines["exact_tokens"].startswith("off:")
    assert lines["chat_template"] == "on"


def test_a_model_the_runtime_does_not_serve_is_refused_at_start(runtime: Runtime) -> None:
    with pytest.raises(ConfigError, match=r"does not serve the model 'no-such-model'.*--local-model"):
        backends.load_backend("openai_http", None, url=runtime.url, model="no-such-model")


def test_a_dead_runtime_is_a_clear_error_and_private_requests_stay_here(
    start_daemon: Any, cloud: CloudStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", "sk-test-standin-0123456789abcdefghij")
    dead = f"http://127.0.0.1:{free_port()}/v1"
    runner = start_daemon(  # starts: the runtime may come up after the router
        local_url=dead,
        local_model="any",
        cloud_url=cloud.url,
        cloud_model="standin-large",
        cloud_retries=0,
        # Nothing private leaves, not even redacted; easy requests stay here too.
        policy=Path(__file__).parent.parent / "policies" / "privacy-strict.yaml",
    )
    assert "not reachable at start-up" in runner.daemon.engine.capabilities.why["logprobs"]
    with RouterClient(socket=runner.socket, timeout=60) as client:
        for prompt in ("My card is 4111 1111 1111 1111, exp 12/27: is it valid?", "Say hello."):
            with pytest.raises(ClientError) as caught:
                client.route(prompt, max_tokens=8)
            assert caught.value.code == "UNAVAILABLE"
            assert "cannot connect to the local runtime" in caught.value.message
            assert "--local-url" in caught.value.message
    assert cloud.requests == []  # nothing went out for a local runtime that is down


# --- settings and options: checked in one place ---------------------------------------------------


def test_backend_options_are_checked_by_name() -> None:
    with pytest.raises(ConfigError) as e:
        backends.check_options("llama_cpp", {"n_ctx": 512, "n_gpu_layer": 1})
    assert "no option 'n_gpu_layer'" in e.value.message
    assert "n_gpu_layers" in e.value.message  # the allowed ones are listed
    with pytest.raises(ConfigError, match=r"'read_timeout_s'.*greater than 0"):
        backends.check_options(
            "openai_http", {"url": "http://127.0.0.1:1", "model": "m", "read_timeout_s": 0}
        )
    with pytest.raises(ConfigError, match="no option 'temperature'"):
        backends.check_options("mlx", {"temperature": 0.5})
    # The common settings go to the backends that take them and are left by the others.
    checked = backends.check_options("mlx", {"n_ctx": 512, "n_threads": 2, "default_max_tokens": 8})
    assert checked == {"n_ctx": 512}
    with pytest.raises(ConfigError, match="unknown backend 'llama'"):
        backends.check_name("llama")


def test_settings_check_the_local_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTER_MODEL", raising=False)
    ok = build_settings(local_url="http://localhost:11434", local_model="llama3.2")
    assert ok.local_backend == "openai_http"
    assert check_local_url("http://localhost:11434") == "http://localhost:11434/v1"
    assert check_local_url("http://[::1]:8080/v1/") == "http://[::1]:8080/v1"
    cases = {
        "not this machine": dict(local_url="http://192.168.1.20:8080/v1", local_model="m"),
        "needs --local-model": dict(local_url="http://127.0.0.1:8080/v1"),
        "pass both": dict(local_model="m"),
        "pass one of them": dict(local_url="http://127.0.0.1:8080/v1", local_model="m", model=Path("x")),
        "not --backend llama_cpp": dict(local_url="http://127.0.0.1:1", local_model="m", backend="llama_cpp"),
        "must not carry credentials": dict(local_url="http://u:p@127.0.0.1:1/v1", local_model="m"),
        "base URL": dict(local_url="ftp://127.0.0.1/v1", local_model="m"),
        "unknown backend": dict(backend="vllm"),
    }
    for expected, flags in cases.items():
        with pytest.raises(ConfigError, match=expected):
            build_settings(**flags)
    remote = build_settings(local_url="https://gpu-box.lan/v1", local_model="m", local_allow_remote=True)
    assert remote.local_options()["allow_remote"] is True
    monkeypatch.setenv("ROUTER_BACKEND_OPTIONS", '{"read_timeout_s": 5}')
    assert build_settings().backend_options == {"read_timeout_s": 5}


def test_serve_refuses_a_mistyped_backend_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from router.cli import cli

    monkeypatch.delenv("ROUTER_MODEL", raising=False)
    monkeypatch.setenv("ROUTER_STATE_DIR", str(tmp_path))
    args = ["model", "info", "--local-url", "http://127.0.0.1:9/v1", "--local-model", "m"]
    result = CliRunner().invoke(cli, [*args, "--backend-option", "read_timout_s=3"])
    assert isinstance(result.exception, ConfigError)
    assert "no option 'read_timout_s'" in result.exception.message
    assert "read_timeout_s" in result.exception.message
    result = CliRunner().invoke(cli, [*args, "--backend-option", "oops"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


# --- faults, with a small hand-written runtime ----------------------------------------------------


class FakeRuntime:
    """An OpenAI-compatible server on 127.0.0.1 whose answer to chat completions is `mode`."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.bodies: list[dict[str, Any]] = []
        self.release = threading.Event()
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                runtime.bodies.append(body)
                mode = runtime.mode
                if mode == "hang":
                    runtime.release.wait(30)
                    return
                if mode == "500":
                    self._send(
                        500, {"error": {"message": "boom: secret prompt text", "type": "server_error"}}
                    )
                    return
                if mode == "401":
                    self._send(401, {"error": {"message": "no key", "type": "invalid_api_key"}})
                    return
                logprob = {"content": [{"token": "x", "logprob": -0.25}]}
                if not body.get("stream"):
                    self._send(
                        200,
                        {
                            "choices": [
                                {"message": {"content": "Hi"}, "logprobs": logprob, "finish_reason": "length"}
                            ],
                        },
                    )
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for word in ("Hello", " there"):
                    delta = {"choices": [{"delta": {"content": word}, "logprobs": logprob}]}
                    self.wfile.write(f"data: {json.dumps(delta)}\n\n".encode())
                    self.wfile.flush()
                if mode == "cut":
                    self.close_connection = True
                    return
                end = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
                usage = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
                for event in (end, usage):
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeRuntime]:
    server = FakeRuntime()
    yield server
    server.close()


def _answer(backend: backends.Backend, **options: Any) -> tuple[str, list[backends.Piece]]:
    prompt = backend.format_prompt([Message("user", "Hi")])
    pieces = list(backend.stream(prompt, GenerationOptions(**options), threading.Event()))
    return "".join(p.text for p in pieces), pieces


def test_logprobs_and_options_pass_through(fake: FakeRuntime) -> None:
    backend = backends.load_backend("openai_http", None, url=fake.url, model="tiny", read_timeout_s=5)
    try:
        assert backend.capabilities.logprobs  # asked once at start-up: the runtime gives them
        assert not backend.capabilities.hidden_state
        text, pieces = _answer(backend, max_tokens=5, temperature=0.3, top_p=0.9, stop=("\n",))
        assert text == "Hello there"
        assert [p.logprobs for p in pieces if p.text] == [(-0.25,), (-0.25,)]
        assert pieces[-1].finish_reason == "stop"
        assert pieces[-1].usage is not None and pieces[-1].usage.prompt_tokens == 7  # the runtime's count
        sent = fake.bodies[-1]
        assert sent["messages"] == [{"role": "user", "content": "Hi"}]
        assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["stop"]) == (5, 0.3, 0.9, ["\n"])
        assert sent["logprobs"] is True and sent["stream"] is True
    finally:
        backend.close()


def test_runtime_faults_are_typed_and_say_what_to_fix(fake: FakeRuntime) -> None:
    backend = backends.load_backend(
        "openai_http", None, url=fake.url, model="tiny", read_timeout_s=0.5, logprobs="off"
    )
    try:
        fake.mode = "hang"
        t0 = time.monotonic()
        with pytest.raises(LocalUnavailable, match=r"sent nothing for 0.5 s.*read_timeout_s"):
            _answer(backend)
        assert time.monotonic() - t0 < 5
        fake.release.set()
        fake.mode = "500"
        with pytest.raises(LocalUnavailable, match=r"failed \(HTTP 500, server_error\)") as e:
            _answer(backend)
        assert "secret" not in e.value.message  # the runtime's own message may quote the prompt
        fake.mode = "401"
        with pytest.raises(BackendError, match="api_key_file"):
            _answer(backend)
        fake.mode = "cut"
        with pytest.raises(LocalUnavailable, match="ended the answer before it finished"):
            _answer(backend)
        fake.mode = "ok"
        assert _answer(backend)[0] == "Hello there"  # and it recovers
    finally:
        backend.close()


def test_a_cancelled_answer_stops_between_events(fake: FakeRuntime) -> None:
    backend = OpenAIHttpBackend(url=fake.url, model="tiny", logprobs="off")
    try:
        cancel = threading.Event()
        prompt = backend.format_prompt([Message("user", "Hi")])
        pieces = []
        for piece in backend.stream(prompt, GenerationOptions(), cancel):
            pieces.append(piece)
            cancel.set()
        assert pieces[-1].finish_reason == "cancelled"
        assert "logprobs" not in fake.bodies[-1]
    finally:
        backend.close()


def test_proxies_from_the_environment_are_not_used(
    fake: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    backend = OpenAIHttpBackend(url=fake.url, model="tiny", logprobs="off")
    try:
        assert _answer(backend)[0] == "Hello there"
    finally:
        backend.close()


def test_answers_reuse_one_connection() -> None:
    """The body is read to its end after [DONE], so the connection goes back to the pool: a new TCP
    connection per answer cost about 1 ms and a fresh accept in the runtime."""
    from bench._common import FastCloud

    with FastCloud() as runtime:
        backend = OpenAIHttpBackend(url=runtime.url, model="standin", logprobs="off")
        try:
            for _ in range(3):
                assert _answer(backend)[0]
        finally:
            backend.close()
        stats = httpx.get(f"{runtime.url}/stats", timeout=5, trust_env=False).json()
    # One for the model check at start-up and the three answers, one for this /stats request.
    assert stats["connections"] == 2
