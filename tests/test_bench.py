"""The benchmark harness's own parts: percentiles, target lines, the fast cloud stand-in, the runner.

No timings are asserted here; the benchmarks themselves run with `python -m bench`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import bench.__main__ as runner
from bench._common import FORCE_CLOUD_POLICY, FastCloud, Targets, percentile, table


def test_percentile_interpolates_and_handles_edges() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert percentile(list(map(float, range(101))), 99) == 99.0
    assert percentile([], 50) != percentile([], 50)  # NaN


def test_targets_say_met_or_not() -> None:
    t = Targets()
    assert t.check("ratio", 1.04, "<=", 1.05)
    assert t.all_met
    assert not t.check("rate", 900, ">=", 1000, " req/s")
    assert not t.check("missing", None, "<=", 1.0)
    assert not t.all_met
    text = t.markdown()
    assert "ratio = 1.040 (target <= 1.05): met" in text
    assert "rate = 900.0 req/s (target >= 1000 req/s): NOT met" in text
    assert "missing: not measured" in text


def test_table_is_markdown() -> None:
    assert table(["a", "b"], [[1, "x"]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | x |"]


@pytest.fixture(scope="module")
def fast_cloud() -> Iterator[FastCloud]:
    with FastCloud() as cloud:
        yield cloud


def _ask(cloud: FastCloud, text: str, **extra: object) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(cloud.url + "/chat/completions", json=body, timeout=5)


def test_fast_cloud_answers_json_and_sse(fast_cloud: FastCloud) -> None:
    r = _ask(fast_cloud, "hello")
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"]
    r = _ask(fast_cloud, "hello", stream=True)
    events = [line for line in r.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert len(events) >= 3


def test_fast_cloud_faults_follow_the_request(fast_cloud: FastCloud) -> None:
    assert _ask(fast_cloud, "x [fault:http500]").status_code == 500
    r = _ask(fast_cloud, "x [fault:http429]")
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            fast_cloud.url + "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x [fault:hang]"}]},
            timeout=httpx.Timeout(5, read=0.3),
        )
    with pytest.raises(httpx.RemoteProtocolError):
        _ask(fast_cloud, "x [fault:break]", stream=True)
    assert _ask(fast_cloud, "after the faults").status_code == 200  # the server is still fine


def test_force_cloud_policy_validates(tmp_path: Path) -> None:
    from router.policy import load_policy

    path = tmp_path / "p.yaml"
    path.write_text(FORCE_CLOUD_POLICY)
    policy = load_policy(path)
    assert policy.version


def test_runner_skips_a_missing_benchmark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(runner, "BENCHMARKS", ["no_such_benchmark"])
    out = tmp_path / "report.md"
    assert runner.main(["--write", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "bench/no_such_benchmark.py is not in this checkout: skipped" in printed
    report = out.read_text()
    assert report.startswith("# Benchmarks")
    assert "cores (nproc)" in report and "llama-cpp-python" in report


def test_cloud_stream_reuses_its_connection(fast_cloud: FastCloud) -> None:
    """A streamed answer is read to the end of the body, so the next request reuses the connection."""
    import asyncio

    from router.cloud import CloudClient
    from router.types import GenerationOptions, Message

    async def two_streams() -> list[str]:
        client = CloudClient(base_url=fast_cloud.url, model="m", api_key="k")
        texts = []
        try:
            for _ in range(3):
                parts = [p.text async for p in client.stream([Message("user", "hi")], GenerationOptions())]
                texts.append("".join(parts))
        finally:
            await client.aclose()
        return texts

    before = httpx.get(fast_cloud.url + "/stats").json()["connections"]
    texts = asyncio.run(two_streams())
    after = httpx.get(fast_cloud.url + "/stats").json()["connections"]
    assert all(texts)
    assert after - before == 2  # one for the three streams, one for the /stats call
