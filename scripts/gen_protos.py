"""Regenerate the gRPC stubs in router/v1/ from protos/ (run after editing a .proto file).

    python scripts/gen_protos.py [OUT_DIR]

tests/test_protos.py fails when the checked-in stubs differ from what this writes.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ["router/v1/router.proto"]


def generate(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = str(files("grpc_tools") / "_proto")
    for proto in PROTOS:
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{ROOT / 'protos'}",
                f"-I{well_known}",
                f"--python_out={out_dir}",
                f"--pyi_out={out_dir}",
                f"--grpc_python_out={out_dir}",
                str(ROOT / "protos" / proto),
            ]
        )
        if code != 0:
            raise SystemExit(f"protoc failed on {proto} (exit {code})")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
