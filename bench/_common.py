"""What every benchmark shares: the machine's description, percentiles, tables and target lines, a
`router serve` subprocess, free ports, and process memory.

Benchmarks print GitHub-flavoured markdown (readable in a terminal, pasted as is into
docs/benchmarks.md). Each measures the project and its peers in the same run, sequentially.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


# --- arguments ----------------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK") == "1",
        help="shrink every count (development runs; numbers are noisier) [env BENCH_QUICK=1]",
    )
    return p


# --- the machine --------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": _cpu_model(),
        "RAM": f"{_ram_gib():.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "llama-cpp-python": _version("llama_cpp_python"),
        "grpcio": _version("grpcio"),
        "load average at start (1/5/15 min)": " / ".join(f"{x:.2f}" for x in load),
    }


def machine_markdown() -> str:
    return "\n".join(f"- {k}: {v}" for k, v in machine().items())


# --- numbers ------------------------------------------------------------------------------------


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank-interpolated percentile (p in 0..100); NaN for no samples."""
    if not samples:
        return float("nan")
    s = sorted(samples)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None or x != x:  # None or NaN
        return "—"
    return f"{x:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(out)


@dataclass
class Targets:
    """Target lines: `name = value (target op limit): met|NOT met`."""

    lines: list[str] = field(default_factory=list)
    all_met: bool = True

    def check(self, name: str, value: float | None, op: str, limit: float, unit: str = "") -> bool:
        if value is None or value != value:
            self.lines.append(f"- {name}: not measured (target {op} {limit:g}{unit}): NOT met")
            self.all_met = False
            return False
        met = value <= limit if op == "<=" else value >= limit
        self.all_met = self.all_met and met
        digits = 3 if abs(value) < 10 else 1
        verdict = "met" if met else "NOT met"
        self.lines.append(f"- {name} = {value:,.{digits}f}{unit} (target {op} {limit:g}{unit}): {verdict}")
        return met

    def note(self, text: str) -> None:
        self.lines.append(f"- {text}")

    def markdown(self) -> str:
        return "\n".join(self.lines)


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (VmRSS: includes the model file's mapped pages)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {tail(log)}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f}s: {tail(log)}")


def tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


def model_path() -> Path:
    from router.model import resolve_model

    return resolve_model(None)


class Daemon:
    """`router serve` as a subprocess on a Unix socket in a fresh state directory."""

    def __init__(
        self,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        policy: Path | None = None,
        cloud_url: str | None = None,
        queue_size: int | None = None,
        extra_env: dict[str, str] | None = None,
        local_url: str | None = None,
        local_model: str | None = None,
    ) -> None:
        """`local_url`/`local_model`: the local tier is that runtime over HTTP instead of the model file."""
        self.workdir = Path(tempfile.mkdtemp(prefix="hr-bench-", dir="/tmp"))
        self.state_dir = self.workdir / "state"
        self.socket = self.workdir / "router.sock"
        self.log_path = self.workdir / "daemon.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
        env.update(
            ROUTER_STATE_DIR=str(self.state_dir),
            ROUTER_SOCKET=str(self.socket),
            ROUTER_MODEL=str(model_path()),
            ROUTER_N_CTX=str(n_ctx),
            ROUTER_N_THREADS=str(n_threads or os.cpu_count() or 1),
            ROUTER_RETENTION_DAYS="0",
        )
        if local_url is not None:
            del env["ROUTER_MODEL"]
            env.update(ROUTER_LOCAL_URL=local_url, ROUTER_LOCAL_MODEL=local_model or "")
        if policy is not None:
            env["ROUTER_POLICY"] = str(policy)
        if cloud_url is not None:
            env.update(
                ROUTER_CLOUD_URL=cloud_url, ROUTER_CLOUD_MODEL="standin", ROUTER_CLOUD_API_KEY="bench-key"
            )
        if queue_size is not None:
            env["ROUTER_QUEUE_SIZE"] = str(queue_size)
        env.update(extra_env or {})
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "router", "serve", "--log-format", "json"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_serving()

    @property
    def target(self) -> str:
        return f"unix:{self.socket}"

    @property
    def decisions_db(self) -> Path:
        return self.state_dir / "decisions.db"

    def _wait_serving(self, timeout: float = 180) -> None:
        from router.client import ClientError, RouterClient

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"router serve exited with {self.proc.returncode}: {tail(self.log_path)}")
            if self.socket.exists():
                try:
                    with RouterClient(socket=self.socket, timeout=2) as c:
                        if c.health() == "SERVING":
                            return
                except ClientError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"router serve did not start within {timeout:.0f}s: {tail(self.log_path)}")

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        code = stop_process(self.proc, sig)
        self._log.close()
        return code

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.stop(signal.SIGKILL)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


FORCE_CLOUD_POLICY = """\
# Benchmark policy: requests with metadata route=cloud go to the cloud as written; everything else is
# decided by the same rules as the shipped default policy would (here: local, no findings).
format: 1
description: bench - metadata route=cloud forces the cloud
default: local
on_cloud_unavailable: local
on_budget_exhausted: local
on_local_overload: local
on_context_overflow: local
budgets:
  global: {requests_per_day: 100000000, tokens_per_day: 10000000000, cost_per_day: 1000000.0}
  per_app: {requests_per_day: 100000000, tokens_per_day: 10000000000, cost_per_day: 1000000.0}
rules:
  - name: forced-cloud
    when: {metadata: {route: cloud}}
    action: cloud
"""


def force_cloud_policy(directory: Path) -> Path:
    path = directory / "force-cloud.yaml"
    path.write_text(FORCE_CLOUD_POLICY)
    return path


def section(title: str, command: str, body: str, quick: bool) -> str:
    label = " (QUICK RUN: shrunk counts, noisy)" if quick else ""
    return f"## {title}{label}\n\nCommand: `{command}`\n\n{body}\n"


class FastCloud:
    """bench/fast_cloud.py in its own process; `url` is the OpenAI-style base URL (…/v1)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fast_cloud"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the cloud stand-in did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        stop_process(self.proc, signal.SIGTERM, 5)

    def __enter__(self) -> FastCloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
