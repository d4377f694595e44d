"""Local answer: the daemon vs llama-cpp-python in process vs llama-cpp-python's own OpenAI server.

    python -m bench.local_answer [--quick] [--rounds N] [--systems a,b,c,d,e,f,g,h]

The same 8 short prompts, the default model file, max_tokens 32, greedy decoding (temperature 0,
top_p 1, repeat penalty 1), the same n_ctx and thread count, through:
  (a) direct   llama_cpp.Llama(...).create_completion in this process (no server at all)
  (b) daemon   `router serve` as a subprocess on a Unix socket, over gRPC (scoring, policy and the
               decision log included; the default policy with no cloud, so everything is local)
  (c) llama-server  `python -m llama_cpp.server` as a subprocess, /v1/completions over HTTP
  (d) runtime chat  the same server's /v1/chat/completions called directly, streamed (the request the
                    daemon makes of it, read to its end)
  (e) daemon over HTTP  `router serve --local-url <(c)'s URL>` over gRPC: the runtime is the local tier
  (f) instant runtime  bench/fast_cloud.py as the runtime, called directly: it answers at once
  (g) daemon over (f)  `router serve --local-url <(f)'s URL>`: (g) - (f) is the daemon's own cost
  (h) daemon, HTTP door  the daemon of (b)'s kind through its OpenAI-compatible HTTP door
               (--http-socket, a Unix socket; httpx, /v1/chat/completions, SSE for time to first token)

(a) answers exactly what the daemon answers: the same tokens (the model's chat template, formatted by
the router's backend) and the same sampling defaults (greedy, repeat penalty 1.1 over the last 64
tokens). (c) gets the plain prompt format with stop strings and no repeat penalty, as before: its
answers differ, so compare it on time per token. Requests are never concurrent: each round runs
every system in turn (the order rotates per round) so that machine noise hits all three alike; one
warm-up round per system comes first. (d) and (e) send the same chat messages to the same server with the same
max_tokens and greedy sampling, leaving the rest (repeat penalty) to the server's defaults: (e) - (d) is
what the daemon adds to a local runtime over HTTP. (h) sends (b)'s request (one user message,
max_tokens, temperature 0, top_p 1) as OpenAI JSON, so it gets (b)'s prompt text and answers: (h) - (b)
is the HTTP door against gRPC. End-to-end latency is taken from non-streaming calls, time to first
token from streaming calls; tokens/s = completion tokens / end-to-end seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import (
    Daemon,
    FastCloud,
    Targets,
    fmt,
    free_port,
    model_path,
    parser,
    percentile,
    section,
    stop_process,
    table,
    wait_port,
)

PROMPTS = [
    "What is the capital of France?",
    "Write one sentence about the sea.",
    "Name three primary colours.",
    "How many days are in a week?",
    "Give me a synonym for happy.",
    "What is 12 times 12?",
    "Translate 'good morning' into Spanish.",
    "Suggest a name for a grey cat.",
]
MAX_TOKENS = 32
N_CTX = 2048


@dataclass
class Result:
    e2e_ms: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)  # the prompt of each sample

    def tokens_per_s(self, reference: dict[str, int] | None = None) -> float:
        """Completion tokens per second of end-to-end time. With `reference` (tokens per prompt as
        llama.cpp counted them), every system is credited the same count for the same answer."""
        seconds = sum(self.e2e_ms) / 1000
        tokens = sum(reference[p] for p in self.prompts) if reference else sum(self.tokens)
        return tokens / seconds if seconds else float("nan")


@dataclass
class System:
    name: str
    # (prompt) -> (e2e_ms, completion_tokens, text) ; (prompt) -> ttft_ms
    complete: Callable[[str], tuple[float, int, str]]
    first_token: Callable[[str], float]
    close: Callable[[], None]
    result: Result = field(default_factory=Result)
    pid: int | None = None  # the server process, for servers run as subprocesses
    base_url: str = ""


def _plain(prompt: str) -> str:
    from router.backends.base import plain_prompt
    from router.types import Message

    return plain_prompt([Message("user", prompt)])


def _stops() -> list[str]:
    from router.backends.base import PLAIN_STOPS

    return list(PLAIN_STOPS)


def direct_system(path: Path, n_threads: int) -> System:
    """(a): the same model file through the router's own llama.cpp backend object, but called straight
    through llama-cpp-python's `create_completion`: the daemon's prompt (the model's chat template),
    its tokens and its sampling defaults (greedy, repeat penalty over the last 64 tokens), so (a) and
    the daemon answer the same prompt the same way."""
    from router import backends, sampling
    from router.types import GenerationOptions, Message

    backend: Any = backends.load_backend("llama_cpp", path, n_ctx=N_CTX, n_threads=n_threads)
    llm = backend._llm
    s = sampling.resolve(GenerationOptions(temperature=0.0, top_p=1.0), backend.sampling)
    llm.last_n_tokens_size = s.repeat_last_n
    params: dict[str, Any] = dict(
        max_tokens=MAX_TOKENS,
        temperature=s.temperature,
        top_p=s.top_p,
        top_k=s.top_k,
        min_p=s.min_p,
        repeat_penalty=s.repeat_penalty,
    )
    if not backend.capabilities.chat_template:
        params["stop"] = _stops()

    def tokens(prompt: str) -> list[int]:
        return list(backend._tokens(backend.format_prompt([Message("user", prompt)])))

    def complete(prompt: str) -> tuple[float, int, str]:
        t0 = time.perf_counter()
        r = llm.create_completion(prompt=tokens(prompt), **params)
        ms = (time.perf_counter() - t0) * 1000
        return ms, int(r["usage"]["completion_tokens"]), str(r["choices"][0]["text"])

    def first_token(prompt: str) -> float:
        t0 = time.perf_counter()
        ttft = float("nan")
        chunks = llm.create_completion(prompt=tokens(prompt), stream=True, **params)
        for chunk in chunks:
            if chunk["choices"][0].get("text") and ttft != ttft:
                ttft = (time.perf_counter() - t0) * 1000
        return ttft

    return System("(a) direct llama-cpp-python (in process)", complete, first_token, backend.close)


def daemon_system(n_threads: int, **daemon_options: Any) -> System:
    from router.client import RouterClient, StreamEnd

    daemon = Daemon(n_ctx=N_CTX, n_threads=n_threads, **daemon_options)
    client = RouterClient(socket=daemon.socket, timeout=120)

    def complete(prompt: str) -> tuple[float, int, str]:
        t0 = time.perf_counter()
        r = client.route(prompt, max_tokens=MAX_TOKENS, temperature=0.0, top_p=1.0)
        ms = (time.perf_counter() - t0) * 1000
        if r.decision.route != "local":
            raise RuntimeError(f"the daemon routed a benchmark prompt to {r.decision.route}")
        return ms, r.completion_tokens, r.text

    def first_token(prompt: str) -> float:
        t0 = time.perf_counter()
        ttft = float("nan")
        for event in client.stream(prompt, max_tokens=MAX_TOKENS, temperature=0.0, top_p=1.0):
            if isinstance(event, str) and event and ttft != ttft:
                ttft = (time.perf_counter() - t0) * 1000
            elif isinstance(event, StreamEnd):
                break
        return ttft

    def close() -> None:
        client.close()
        daemon.cleanup()

    return System("(b) hybrid-router daemon (gRPC, Unix socket)", complete, first_token, close)


def llama_server_system(path: Path, n_threads: int) -> System:
    import httpx

    port = free_port()
    log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
    log_file = log.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(path),
            "--n_ctx",
            str(N_CTX),
            "--n_threads",
            str(n_threads),
            "--n_threads_batch",
            str(n_threads),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, proc, 180, "llama_cpp.server", log)
    except Exception:
        stop_process(proc)
        raise
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", timeout=120)
    params: dict[str, Any] = dict(
        max_tokens=MAX_TOKENS, temperature=0.0, top_p=1.0, repeat_penalty=1.0, stop=_stops()
    )

    def complete(prompt: str) -> tuple[float, int, str]:
        t0 = time.perf_counter()
        r = http.post("/completions", json={"prompt": _plain(prompt), **params})
        ms = (time.perf_counter() - t0) * 1000
        r.raise_for_status()
        body = r.json()
        return ms, int(body["usage"]["completion_tokens"]), str(body["choices"][0]["text"])

    def first_token(prompt: str) -> float:
        t0 = time.perf_counter()
        ttft = float("nan")
        with http.stream(
            "POST", "/completions", json={"prompt": _plain(prompt), "stream": True, **params}
        ) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if event["choices"] and event["choices"][0].get("text") and ttft != ttft:
                    ttft = (time.perf_counter() - t0) * 1000
        return ttft

    def close() -> None:
        http.close()
        stop_process(proc)
        log_file.close()
        log.unlink(missing_ok=True)

    return System(
        "(c) llama-cpp-python OpenAI server (HTTP)",
        complete,
        first_token,
        close,
        pid=proc.pid,
        base_url=f"http://127.0.0.1:{port}/v1",
    )


def http_door_system(n_threads: int) -> System:
    """(h): a daemon like (b)'s, asked through its OpenAI-compatible HTTP door on a Unix socket."""
    import httpx

    socket = Path(tempfile.mkdtemp(prefix="hr-bench-http-", dir="/tmp")) / "http.sock"
    daemon = Daemon(n_ctx=N_CTX, n_threads=n_threads, extra_env={"ROUTER_HTTP_SOCKET": str(socket)})
    try:
        http = httpx.Client(
            base_url="http://router/v1",
            transport=httpx.HTTPTransport(uds=str(socket)),
            timeout=120,
            trust_env=False,
        )
    except Exception:
        daemon.cleanup()
        raise
    params: dict[str, Any] = dict(model="router", max_tokens=MAX_TOKENS, temperature=0.0, top_p=1.0)

    def body(prompt: str, **extra: Any) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": prompt}], **params, **extra}

    def local(r: httpx.Response) -> None:
        r.raise_for_status()
        if r.headers.get("x-router-route") != "local":
            raise RuntimeError(f"the daemon routed a benchmark prompt to {r.headers.get('x-router-route')}")

    def complete(prompt: str) -> tuple[float, int, str]:
        t0 = time.perf_counter()
        r = http.post("/chat/completions", json=body(prompt))
        answer = r.json()
        ms = (time.perf_counter() - t0) * 1000
        local(r)
        return ms, int(answer["usage"]["completion_tokens"]), str(answer["choices"][0]["message"]["content"])

    def first_token(prompt: str) -> float:
        t0 = time.perf_counter()
        ttft = float("nan")
        with http.stream("POST", "/chat/completions", json=body(prompt, stream=True)) as r:
            local(r)
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                delta = event["choices"][0].get("delta", {}) if event.get("choices") else {}
                if delta.get("content") and ttft != ttft:
                    ttft = (time.perf_counter() - t0) * 1000
        return ttft

    def close() -> None:
        http.close()
        daemon.cleanup()
        shutil.rmtree(socket.parent, ignore_errors=True)

    name = "(h) hybrid-router daemon (OpenAI HTTP door, Unix socket)"
    return System(name, complete, first_token, close, pid=daemon.proc.pid)


def runtime_chat_system(
    base_url: str,
    model: str,
    name: str = "(d) llama_cpp.server chat/completions, direct (HTTP, SSE)",
    on_close: Callable[[], None] | None = None,
) -> System:
    """(d): llama_cpp.server's chat completions called directly, on the server of (c); (f): the same
    against an instant runtime."""
    import httpx

    http = httpx.Client(base_url=base_url, timeout=120, trust_env=False)
    params: dict[str, Any] = dict(model=model, max_tokens=MAX_TOKENS, temperature=0.0, top_p=1.0)

    def body(prompt: str, **extra: Any) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": prompt}], **params, **extra}

    def complete(prompt: str) -> tuple[float, int, str]:
        # The request the daemon makes of the runtime (a stream, usage included), read to its end: the
        # difference to (e) is then the daemon's own cost. (llama-cpp-python's non-streaming answers
        # were slower than its streamed ones here, which would flatter the daemon.)
        t0 = time.perf_counter()
        parts: list[str] = []
        n = 0
        extra = {"stream": True, "stream_options": {"include_usage": True}}
        with http.stream("POST", "/chat/completions", json=body(prompt, **extra)) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if event.get("choices"):
                    content = event["choices"][0].get("delta", {}).get("content")
                    if content:
                        parts.append(content)
                        n += 1
        ms = (time.perf_counter() - t0) * 1000
        return ms, n, "".join(parts)

    def first_token(prompt: str) -> float:
        t0 = time.perf_counter()
        ttft = float("nan")
        with http.stream("POST", "/chat/completions", json=body(prompt, stream=True)) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                delta = event["choices"][0].get("delta", {}) if event["choices"] else {}
                if delta.get("content") and ttft != ttft:
                    ttft = (time.perf_counter() - t0) * 1000
        return ttft

    def close() -> None:
        http.close()
        if on_close is not None:
            on_close()

    return System(name, complete, first_token, close, base_url=base_url)


def instant_runtime_system() -> System:
    """(f): bench/fast_cloud.py as a local runtime that answers at once (a fixed text in SSE chunks):
    with generation taking no time, what (g) adds over it is the daemon's own cost alone."""
    runtime = FastCloud()
    try:
        return runtime_chat_system(
            runtime.url, "standin", "(f) instant runtime stand-in, direct (HTTP, SSE)", runtime.close
        )
    except Exception:
        runtime.close()
        raise


def daemon_over_http_system(server: System, n_threads: int, model: str, name: str) -> System:
    """(e), (g): the daemon with --local-url at `server`: the runtime answers, the daemon routes."""
    system = daemon_system(n_threads, local_url=server.base_url, local_model=model)
    system.name = name
    return system


E_NAME = "(e) daemon, --local-url -> that server (gRPC)"
G_NAME = "(g) daemon, --local-url -> the instant runtime (gRPC)"


def _round(system: System, prompts: list[str], record: bool) -> None:
    for prompt in prompts:
        ms, n, text = system.complete(prompt)
        ttft = system.first_token(prompt)
        if record:
            system.result.e2e_ms.append(ms)
            system.result.tokens.append(n)
            system.result.ttft_ms.append(ttft)
            system.result.texts.setdefault(prompt, text)
            system.result.prompts.append(prompt)


def run(quick: bool, rounds: int | None = None, threads: int | None = None, only: str = "abcde") -> str:
    n_threads = threads or os.cpu_count() or 1
    path = model_path()
    prompts = PROMPTS[:4] if quick else PROMPTS
    rounds = rounds or (1 if quick else 4)
    systems: list[System] = []
    missing: list[str] = []
    server: list[System] = []  # (c), when it started: (d) and (e) use its server
    instant: list[System] = []  # (f), when it started: (g) uses its runtime
    builders: list[tuple[str, Callable[[], System]]] = [
        ("(a)", lambda: direct_system(path, n_threads)),
        ("(b)", lambda: daemon_system(n_threads)),
        ("(c)", lambda: llama_server_system(path, n_threads)),
        ("(d)", lambda: runtime_chat_system(server[0].base_url, str(path))),
        ("(e)", lambda: daemon_over_http_system(server[0], n_threads, str(path), E_NAME)),
        ("(f)", instant_runtime_system),
        ("(g)", lambda: daemon_over_http_system(instant[0], n_threads, "standin", G_NAME)),
        ("(h)", lambda: http_door_system(n_threads)),
    ]
    for label, build in builders:
        if label[1] not in only and not (label == "(c)" and {"d", "e"} & set(only)):
            continue
        if label in ("(d)", "(e)") and not server:
            missing.append(f"{label} needs the server of (c), which did not start")
            continue
        if label == "(g)" and not instant:
            missing.append("(g) needs the runtime of (f), which did not start")
            continue
        try:
            systems.append(build())
        except Exception as e:  # a peer that cannot run here is reported, never faked
            missing.append(f"{label} could not start: {type(e).__name__}: {str(e)[:300]}")
            continue
        if label == "(c)":
            server.append(systems[-1])
        if label == "(f)":
            instant.append(systems[-1])
    try:
        measured = [s for s in systems if s.name[1] in only]  # (c) may run only as (d)'s and (e)'s server
        for s in measured:  # warm-up, interleaved: one round each, not recorded
            _round(s, prompts[:2], record=False)
        for r in range(rounds):
            order = measured[r % len(measured) :] + measured[: r % len(measured)]
            for s in order:
                _round(s, prompts, record=True)
    finally:
        for s in systems:
            s.close()

    # llama.cpp's own count of the tokens it generated (the daemon re-counts its answer's text, which
    # can differ by a few tokens): tokens/s credits every system with the same count per answer.
    reference: dict[str, int] | None = None
    if systems and systems[0].name.startswith("(a)"):
        a_res = systems[0].result
        reference = {}
        for prompt, n in zip(a_res.prompts, a_res.tokens, strict=True):
            reference.setdefault(prompt, n)
    systems = [s for s in systems if s.name[1] in only]
    rows = []
    for s in systems:
        res = s.result
        rows.append(
            [
                s.name,
                len(res.e2e_ms),
                fmt(percentile(res.e2e_ms, 50)),
                fmt(percentile(res.e2e_ms, 95)),
                fmt(percentile(res.ttft_ms, 50)),
                fmt(percentile(res.ttft_ms, 95)),
                # (d) and (e) answer chat messages (another prompt): their own count.
                fmt(res.tokens_per_s(reference if s.name[:3] in ("(a)", "(b)", "(c)", "(h)") else None)),
                fmt(sum(res.tokens) / max(1, len(res.tokens))),
            ]
        )
    body = table(
        [
            "system",
            "requests",
            "e2e p50 ms",
            "e2e p95 ms",
            "TTFT p50 ms",
            "TTFT p95 ms",
            "tokens/s",
            "tokens/answer (own count)",
        ],
        rows,
    )
    by = {s.name[:3]: s.result for s in systems}
    targets = Targets()
    a, b, c = by.get("(a)"), by.get("(b)"), by.get("(c)")
    if not {"a", "b", "c"} <= set(only):
        pass
    elif a and b:
        targets.check("e2e p50 (b)/(a)", percentile(b.e2e_ms, 50) / percentile(a.e2e_ms, 50), "<=", 1.05)
        targets.note(
            f"e2e p95 (b)/(a) = {percentile(b.e2e_ms, 95) / percentile(a.e2e_ms, 95):.3f}; "
            f"TTFT p50 (b)/(a) = {percentile(b.ttft_ms, 50) / percentile(a.ttft_ms, 50):.3f}"
        )
    else:
        targets.check("e2e p50 (b)/(a)", None, "<=", 1.05)
    if not {"b", "c"} <= set(only):
        pass
    elif b and c:
        targets.check("e2e p50 (b)/(c)", percentile(b.e2e_ms, 50) / percentile(c.e2e_ms, 50), "<=", 1.0)
        targets.note(
            f"e2e p95 (b)/(c) = {percentile(b.e2e_ms, 95) / percentile(c.e2e_ms, 95):.3f}; "
            f"TTFT p50 (b)/(c) = {percentile(b.ttft_ms, 50) / percentile(c.ttft_ms, 50):.3f}"
        )
    else:
        targets.check("e2e p50 (b)/(c)", None, "<=", 1.0)
    for direct_label, daemon_label, what in (
        ("(d)", "(e)", "llama_cpp.server"),
        ("(f)", "(g)", "an instant runtime"),
    ):
        d, e = by.get(direct_label), by.get(daemon_label)
        name = f"e2e p50 {daemon_label} - {direct_label}, the daemon's overhead over {what}"
        if d and e:
            targets.check(name, percentile(e.e2e_ms, 50) - percentile(d.e2e_ms, 50), "<=", 5.0, " ms")
            # Both answer the same prompts in each round: the paired differences cancel most of the
            # machine's drift, which on a shared machine is larger than the overhead.
            paired = [y - x for x, y in zip(d.e2e_ms, e.e2e_ms, strict=True)]
            same = sum(e.texts.get(p) == t for p, t in d.texts.items())
            targets.note(
                f"{daemon_label} vs {direct_label}: median of the paired differences (same prompt, same "
                f"round) {percentile(paired, 50):.1f} ms; e2e p50 ratio "
                f"{percentile(e.e2e_ms, 50) / percentile(d.e2e_ms, 50):.3f}; TTFT p50 difference "
                f"{percentile(e.ttft_ms, 50) - percentile(d.ttft_ms, 50):.1f} ms; identical answers "
                f"{same}/{len(d.texts)} prompts"
            )
        elif {direct_label[1], daemon_label[1]} <= set(only):
            targets.check(name, None, "<=", 5.0, " ms")
    h = by.get("(h)")
    if a and h:
        h50, a50 = percentile(h.e2e_ms, 50), percentile(a.e2e_ms, 50)
        targets.check("e2e p50 (h)/(a), local answers through the HTTP door", h50 / a50, "<=", 1.05)
        targets.note(
            f"e2e p95 (h)/(a) = {percentile(h.e2e_ms, 95) / percentile(a.e2e_ms, 95):.3f}; "
            f"TTFT p50 (h)/(a) = {percentile(h.ttft_ms, 50) / percentile(a.ttft_ms, 50):.3f}"
        )
    elif {"a", "h"} <= set(only):
        targets.check("e2e p50 (h)/(a), local answers through the HTTP door", None, "<=", 1.05)
    if b and h:
        # Same prompts, same round, one after the other in the rotation: the paired differences
        # cancel most of the machine's drift.
        paired = [y - x for x, y in zip(b.e2e_ms, h.e2e_ms, strict=True)]
        same = sum(h.texts.get(p) == t for p, t in b.texts.items())
        h50b, b50 = percentile(h.e2e_ms, 50), percentile(b.e2e_ms, 50)
        targets.note(
            f"(h) HTTP door vs (b) gRPC: e2e p50 {h50b:.1f} vs {b50:.1f} ms (ratio {h50b / b50:.3f}); "
            f"median of the paired differences {percentile(paired, 50):.1f} ms; TTFT p50 "
            f"{percentile(h.ttft_ms, 50):.1f} vs {percentile(b.ttft_ms, 50):.1f} ms; identical answers "
            f"{same}/{len(b.texts)} prompts"
        )
    # the same prompt text ((h) as (b): the daemon formats the one user message)
    plain = [s for s in systems if s.name[:3] in ("(a)", "(b)", "(c)", "(h)")]
    if len(plain) > 1:
        ref = plain[0].result.texts
        same = sum(all(s.result.texts.get(p) == ref.get(p) for s in plain) for p in ref)
        targets.note(f"identical answers across the systems: {same}/{len(ref)} prompts (greedy decoding)")
    for m in missing:
        targets.note(m)
    notes = (
        f"{len(prompts)} prompts x {rounds} rounds per system, max_tokens {MAX_TOKENS}, greedy, "
        f"n_ctx {N_CTX}, n_threads {n_threads}; one non-streaming and one streaming call per prompt."
    )
    return f"{notes}\n\n{body}\n\n{targets.markdown()}"


def main(argv: list[str] | None = None) -> None:
    p = parser("Local answer latency: daemon vs direct llama-cpp-python vs llama_cpp.server")
    p.add_argument("--rounds", type=int, default=None, help="measured rounds per system [4; quick 1]")
    p.add_argument("--threads", type=int, default=None, help="llama.cpp threads, every system [nproc]")
    p.add_argument(
        "--systems",
        default="a,b,c,d,e,f,g,h",
        help="which systems to run, e.g. d,e,f,g (d and e start c's server)",
    )
    args = p.parse_args(argv)
    only = "".join(args.systems.replace(",", "").split())
    cmd = "python -m bench.local_answer" + (" --quick" if args.quick else "")
    cmd += f" --threads {args.threads}" if args.threads else ""
    cmd += f" --rounds {args.rounds}" if args.rounds else ""
    cmd += f" --systems {args.systems}" if args.systems != "a,b,c,d,e,f,g,h" else ""
    report = run(args.quick, args.rounds, args.threads, only)
    print(section("Local answer", cmd, report, args.quick), flush=True)


if __name__ == "__main__":
    main()
