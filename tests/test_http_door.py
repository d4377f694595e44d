"""The OpenAI-compatible HTTP door (issue #19) through a live daemon: the official `openai` package as
a real client for what apps do, raw httpx for the edge cases of the wire."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from router import decisions
from router.auth import add_token
from router.config import build_settings
from router.errors import ConfigError, InvalidRequest
from router.http_door import HttpError, parse_completion
from router.requests import Limits
from tests.standin import CloudStandIn

# Hard enough for the shipped default policy to send it to the cloud when nothing private is in it.
HARD = (
    "Prove that there are infinitely many primes, then derive the prime number theorem's error term "
    "under the Riemann hypothesis and compare it with the best unconditional bound. Context: "
)
SECRET = "alice.martin@example.org"


def base_url(runner: Any) -> str:
    return f"{runner.daemon.http_addresses[-1]}/v1"


def client(runner: Any, api_key: str = "unused", **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url(runner), api_key=api_key, max_retries=0, timeout=60, **kw)


def read_row(runner: Any, decision_id: str) -> dict[str, Any]:
    runner.daemon.decisions.flush(5.0)
    with decisions.reader(runner.settings.decisions_db) as db:
        row = decisions.get(db, decision_id)
    assert row is not None, f"no row for {decision_id}"
    return row


@pytest.fixture
def http_daemon(daemon_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ROUTER_N_THREADS", "1")
    return daemon_factory(http_listen="127.0.0.1:0", insecure=True)


@pytest.fixture
def cloud_daemon(daemon_factory: Any, cloud: CloudStandIn, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", "sk-test-standin-0123456789abcdefghij")
    monkeypatch.setenv("ROUTER_N_THREADS", "1")
    return daemon_factory(
        cloud_url=cloud.url,
        cloud_model="standin-large",
        cloud_retries=0,
        http_listen="127.0.0.1:0",
        insecure=True,
        policy=Path(__file__).parent / "policies" / "all-hard.yaml",
    )


# --- with the official openai client ----------------------------------------------------------------


def test_plain_completion_local(http_daemon: Any) -> None:
    with client(http_daemon) as oa:
        raw = oa.chat.completions.with_raw_response.create(
            model="anything",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=8,
            temperature=0,
            extra_headers={"x-router-app": "notes"},
        )
    completion = raw.parse()
    decision_id = raw.headers["x-router-decision-id"]
    assert raw.headers["x-router-route"] == "local"
    assert completion.id == f"chatcmpl-{decision_id}"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 8
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    router = (completion.model_extra or {})["router"]
    assert router["id"] == decision_id
    assert router["route"] == "local"
    assert {
        "rule",
        "reason",
        "complexity",
        "privacy",
        "findings",
        "fallback",
        "answer_check",
        "summary",
    } <= set(router)
    row = read_row(http_daemon, decision_id)
    assert row["app"] == "notes"  # the app id from x-router-app
    assert row["route"] == "local" and row["status"] == "OK"
    assert row["tokens_out"] == completion.usage.completion_tokens


def test_streaming_with_usage(http_daemon: Any) -> None:
    with client(http_daemon) as oa:
        stream = oa.chat.completions.create(
            model="anything",
            messages=[{"role": "user", "content": "Name a colour."}],
            max_completion_tokens=6,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finished) == 1
    router = (finished[0].model_extra or {})["router"]
    assert router["route"] == "local"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # the usage chunk comes last
    assert 0 < chunks[-1].usage.completion_tokens <= 6
    assert len({c.id for c in chunks}) == 1 and chunks[0].id == f"chatcmpl-{router['id']}"
    row = read_row(http_daemon, router["id"])
    assert row["kind"] == "stream" and row["status"] == "OK"


def test_options_reach_the_cloud(cloud_daemon: Any, cloud: CloudStandIn) -> None:
    with client(cloud_daemon) as oa:
        raw = oa.chat.completions.with_raw_response.create(
            model="anything",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": HARD + "none."},
            ],
            max_tokens=5,
            temperature=0.5,
            top_p=0.9,
            stop=["END", "STOP"],
            user="u-42",
        )
    completion = raw.parse()
    assert raw.headers["x-router-route"] == "cloud", "the control must reach the cloud"
    sent = cloud.requests[-1]
    assert sent["max_tokens"] == 5
    assert sent["temperature"] == 0.5 and sent["top_p"] == 0.9
    assert sent["stop"] == ["END", "STOP"]
    assert completion.model == "standin-large"
    assert completion.choices[0].finish_reason == "length"  # the stand-in cut the answer at 5 words
    assert completion.choices[0].message.content == "Cloud answer: Prove that there"


def test_private_prompt_is_redacted_for_the_cloud_and_restored(
    cloud_daemon: Any, cloud: CloudStandIn
) -> None:
    prompt = HARD + f"write to {SECRET} with the result."
    with client(cloud_daemon) as oa:
        raw = oa.chat.completions.with_raw_response.create(
            model="anything", messages=[{"role": "user", "content": prompt}]
        )
        streamed = oa.chat.completions.create(
            model="anything", messages=[{"role": "user", "content": prompt}], stream=True
        )
        stream_text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    completion = raw.parse()
    assert raw.headers["x-router-route"] == "cloud_redacted"
    router = (completion.model_extra or {})["router"]
    assert router["route"] == "cloud_redacted" and router["findings"]
    assert len(cloud.requests) == 2
    assert SECRET not in json.dumps(cloud.requests)  # the cloud saw placeholders only
    assert SECRET in (completion.choices[0].message.content or "")  # the echo came back restored
    assert SECRET in stream_text


def test_bad_input_is_a_400_in_openais_shape(http_daemon: Any) -> None:
    with client(http_daemon) as oa:
        with pytest.raises(openai.BadRequestError) as caught:
            oa.chat.completions.create(model="m", messages=[{"role": "assistant", "content": "hi"}])
        with pytest.raises(openai.BadRequestError) as bad_param:
            oa.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "hi"}],
                temperature="hot",  # type: ignore[arg-type]
            )
        with pytest.raises(openai.BadRequestError) as too_many:
            oa.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=10**6
            )
    error = caught.value.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert "no message has role 'user'" in error["message"]  # build_request's own words, as over gRPC
    assert bad_param.value.response.json()["error"]["param"] == "temperature"
    assert "max_tokens is 1000000" in too_many.value.message


def test_tokens_required_when_configured(daemon_factory: Any, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    token = add_token(tokens, "notes")
    runner = daemon_factory(http_listen="127.0.0.1:0", insecure=True, app_tokens=tokens)
    messages = [{"role": "user", "content": "Say hi."}]
    with httpx.Client(base_url=runner.daemon.http_addresses[-1], timeout=30) as h:
        missing = h.post("/v1/chat/completions", json={"messages": messages})
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    with client(runner, api_key="hr_wrong") as oa, pytest.raises(openai.AuthenticationError):
        oa.models.list()
    with client(runner, api_key=token) as oa:
        with pytest.raises(openai.PermissionDeniedError):
            oa.chat.completions.create(
                model="m",
                messages=messages,  # type: ignore[arg-type]
                max_tokens=2,
                extra_headers={"x-router-app": "other"},
            )
        raw = oa.chat.completions.with_raw_response.create(
            model="m",
            messages=messages,  # type: ignore[arg-type]
            max_tokens=2,
        )
    assert read_row(runner, raw.headers["x-router-decision-id"])["app"] == "notes"  # the token's app


def test_models_lists_the_resident_and_the_cloud_model(cloud_daemon: Any) -> None:
    with client(cloud_daemon) as oa:
        models = oa.models.list()
    ids = [m.id for m in models.data]
    assert ids == [cloud_daemon.daemon.engine.backend.info.name, "standin-large"]


def test_policy_denial_is_a_403_with_the_decision(daemon_factory: Any, tmp_path: Path) -> None:
    policy = tmp_path / "deny.yaml"
    policy.write_text('default: {action: deny, message: "nothing may pass"}\n')
    runner = daemon_factory(http_listen="127.0.0.1:0", insecure=True, policy=policy)
    with client(runner) as oa, pytest.raises(openai.PermissionDeniedError) as caught:
        oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
    response = caught.value.response
    assert response.headers["x-router-route"] == "deny"
    assert response.json()["error"]["code"] == "policy_denied"
    assert "nothing may pass" in response.json()["error"]["message"]
    row = read_row(runner, response.headers["x-router-decision-id"])
    assert row["route"] == "deny"


# --- the wire, with raw httpx ------------------------------------------------------------------------


def test_wire_errors(http_daemon: Any) -> None:
    url = http_daemon.daemon.http_addresses[-1]
    with httpx.Client(base_url=url, timeout=30) as h:
        bad_json = h.post("/v1/chat/completions", content=b"{not json")
        wrong_method = h.get("/v1/chat/completions")
        unknown = h.post("/v1/completions", json={})
        not_object = h.post("/v1/chat/completions", json=[1, 2])
        tools = h.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]},
        )
        oversized = h.post("/v1/chat/completions", content=b"x" * (8 * 1024 * 1024 + 1))
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_url"
    assert not_object.status_code == 400
    assert tools.status_code == 400 and tools.json()["error"]["param"] == "tools"
    assert oversized.status_code == 413
    for r in (bad_json, wrong_method, unknown, not_object, tools, oversized):
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_sse_framing_and_keep_alive(http_daemon: Any) -> None:
    url = http_daemon.daemon.http_addresses[-1]
    body = {"messages": [{"role": "user", "content": "Count to three."}], "max_tokens": 4, "stream": True}
    with httpx.Client(base_url=url, timeout=60) as h:
        with h.stream("POST", "/v1/chat/completions", json=body) as r:
            raw = b"".join(r.iter_raw())
            headers = r.headers
        # the same connection serves the next request (HTTP/1.1 keep-alive)
        models = h.get("/v1/models")
    assert headers["content-type"] == "text/event-stream"
    assert headers["x-router-route"] == "local" and headers["x-router-decision-id"]
    events = raw.split(b"\n\n")
    assert events[-1] == b""  # every event ends with a blank line
    assert events[-2] == b"data: [DONE]"
    payloads = [json.loads(e.removeprefix(b"data: ")) for e in events[:-2]]
    assert all(e.startswith(b"data: ") for e in events[:-1])
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
    assert payloads[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert "usage" not in payloads[-1]  # no include_usage: no usage chunk
    assert models.status_code == 200 and models.json()["object"] == "list"


def test_a_client_that_hangs_up_cancels_its_request(http_daemon: Any) -> None:
    host, port = http_daemon.daemon.http_addresses[-1].removeprefix("http://").rsplit(":", 1)
    body = json.dumps(
        {
            "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}],
            "max_tokens": 1500,
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"x-router-app: hangup\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head + body)
    # The request ends when the client leaves: the model is free long before 1,500 tokens could be
    # generated. A row is written if the hang-up came after the decision (it says CANCELLED); one that
    # came while the request was still being scored leaves no decision to record.
    daemon = http_daemon.daemon
    time.sleep(1.0)
    for _ in range(200):
        if daemon.engine.worker.depth == 0:
            break
        time.sleep(0.1)
    assert daemon.engine.worker.depth == 0
    daemon.decisions.flush(5.0)
    with decisions.reader(http_daemon.settings.decisions_db) as db:
        rows = list(db[decisions.TABLE].rows)
    assert all((r["app"], r["status"]) == ("hangup", "CANCELLED") for r in rows), rows


def raw_exchange(url: str, data: bytes) -> bytes:
    """Send `data` on a fresh connection; everything the daemon sends back until it closes."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(data)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    return received


def test_malformed_pipelined_and_slow_requests(daemon_factory: Any) -> None:
    runner = daemon_factory(http_listen="127.0.0.1:0", insecure=True, handshake_timeout_s=1.0)
    url = runner.daemon.http_addresses[-1]
    garbage = raw_exchange(url, b"GARBAGE\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400 ") and b'"invalid_request_error"' in garbage
    pipelined = raw_exchange(
        url,
        b"GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n"
        b"GET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    assert pipelined.startswith(b"HTTP/1.1 200 ") and pipelined.count(b"HTTP/1.1 404 ") == 1
    slow = raw_exchange(url, b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nab")
    assert slow.startswith(b"HTTP/1.1 408 ")


def test_stop_lets_a_stream_in_flight_finish(http_daemon: Any) -> None:
    url = http_daemon.daemon.http_addresses[-1]
    body = {
        "messages": [{"role": "user", "content": "Tell me about rivers."}],
        "max_tokens": 24,
        "stream": True,
    }
    with (
        httpx.Client(base_url=url, timeout=60) as h,
        h.stream("POST", "/v1/chat/completions", json=body) as r,
    ):
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
        # Stop the daemon (on its own loop) while the stream is in flight, as SIGTERM would.
        stopping = asyncio.run_coroutine_threadsafe(http_daemon.daemon.stop(30.0), http_daemon.loop)
        rest = list(lines)
    stopping.result(60)
    assert "data: [DONE]" in rest  # the stream ended whole, not cut by the shutdown
    with pytest.raises(httpx.ConnectError):  # and then the listener is gone
        httpx.get(f"{url}/v1/models", timeout=5)


def test_unix_socket_door(daemon_factory: Any, tmp_path: Path) -> None:
    path = Path(tempfile.mkdtemp(prefix="hr-", dir="/tmp")) / "http.sock"  # Unix socket paths are short
    runner = daemon_factory(http_socket=path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o660
    transport = httpx.HTTPTransport(uds=str(path))
    with openai.OpenAI(
        base_url="http://localhost/v1",
        api_key="x",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
    ) as oa:
        completion = oa.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Say yes."}], max_tokens=2
        )
    assert completion.choices[0].message.content is not None
    runner.stop()
    assert not path.exists()  # removed at shutdown


def make_tls_files(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, with the openssl CLI."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"),
    )  # fmt: skip
    for name, san in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "subjectAltName=DNS:app")):
        openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
        )  # fmt: skip
        (d / f"{name}.ext").write_text(san + "\n")
        openssl(
            "x509", "-req", "-in", str(d / f"{name}.csr"),
            "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "1",
            "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.pem"),
        )  # fmt: skip


def test_https_with_client_certificates(daemon_factory: Any, tmp_path: Path) -> None:
    d = tmp_path
    make_tls_files(d)
    runner = daemon_factory(
        http_listen="127.0.0.1:0",
        tls_cert=d / "server.pem",
        tls_key=d / "server.key",
        tls_client_ca=d / "ca.pem",
    )
    url = runner.daemon.http_addresses[-1]
    assert url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(d / "ca.pem"))
    context.load_cert_chain(str(d / "client.pem"), str(d / "client.key"))
    with httpx.Client(base_url=url, verify=context, timeout=30) as h:
        assert h.get("/v1/models").status_code == 200
    without = ssl.create_default_context(cafile=str(d / "ca.pem"))  # no client certificate: refused
    with httpx.Client(base_url=url, verify=without, timeout=30) as h, pytest.raises(httpx.HTTPError):
        h.get("/v1/models")


def test_http_listen_needs_tls_or_insecure(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--http-listen 127\.0\.0\.1:8080 needs TLS"):
        build_settings(state_dir=tmp_path, http_listen="127.0.0.1:8080")
    assert build_settings(state_dir=tmp_path, http_listen="127.0.0.1:8080", insecure=True).http_listen


def test_parse_completion_maps_openais_fields() -> None:
    call = parse_completion(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            ],
            "max_tokens": 9,
            "max_completion_tokens": 7,  # the newer name wins
            "stop": "END",
            "user": "u1",
            "metadata": {"route": "cloud"},
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        Limits(),
        "notes",
    )
    request = call.request
    assert [(m.role, m.content) for m in request.messages] == [("system", "Be brief."), ("user", "a\nb")]
    assert request.app_id == "notes"
    assert request.options.max_tokens == 7 and request.options.stop == ("END",)
    assert request.metadata == {"user": "u1", "route": "cloud"}
    assert call.stream and call.include_usage
    for bad, param in (
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        ({"messages": [{"role": "user", "content": "x"}], "metadata": {"a": 1}}, "metadata"),
    ):
        with pytest.raises(HttpError) as caught:
            parse_completion(bad, Limits(), "")
        assert caught.value.status == 400 and caught.value.param == param
    with pytest.raises(InvalidRequest, match="use one of system, user, assistant"):
        parse_completion({"messages": [{"role": "tool", "content": "x"}]}, Limits(), "")
