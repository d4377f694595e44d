"""The checked-in stubs must be what protoc generates from protos/ today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_stubs_are_fresh(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py"), str(tmp_path)], check=True)
    for name in ("router_pb2.py", "router_pb2.pyi", "router_pb2_grpc.py"):
        fresh = (tmp_path / "router" / "v1" / name).read_text()
        current = (ROOT / "router" / "v1" / name).read_text()
        assert fresh == current, f"router/v1/{name} is stale: run `python scripts/gen_protos.py`"
