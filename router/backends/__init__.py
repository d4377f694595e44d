"""Local model backends, found by name in a registry.

The built-in backends register exactly the way a third-party one would: `register("name", "module:Class")`
or `register("name", factory)`. Importing this package imports no model library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from router.backends.base import Backend, ModelInfo, Piece, plain_prompt
from router.errors import ConfigError, ModelError

__all__ = ["Backend", "ModelInfo", "Piece", "detect_backend", "load_backend", "plain_prompt", "register"]

BackendFactory = Callable[..., Backend]

_REGISTRY: dict[str, str | BackendFactory] = {}


def register(name: str, factory: str | BackendFactory) -> None:
    """Register a backend under `name`: a factory, or a "module:Class" string imported on first use."""
    _REGISTRY[name] = factory


register("llama_cpp", "router.backends.llama_cpp:LlamaCppBackend")
register("mlx", "router.backends.mlx:MlxBackend")


def available() -> list[str]:
    return sorted(_REGISTRY)


def detect_backend(path: Path) -> str:
    """Pick a backend from what the model path is: a .gguf file, or an MLX model directory."""
    if path.is_dir():
        if (path / "config.json").exists() and any(path.glob("*.safetensors")):
            return "mlx"
        raise ModelError(
            f"{path} is a directory but not an MLX model (expected config.json and *.safetensors); "
            "pass a .gguf file or an MLX model directory"
        )
    if path.suffix.lower() == ".gguf":
        return "llama_cpp"
    with path.open("rb") as f:
        if f.read(4) == b"GGUF":
            return "llama_cpp"
    raise ModelError(f"{path} is neither a GGUF file nor an MLX model directory; pass one of those")


def load_backend(name: str, path: Path, **options: Any) -> Backend:
    """Load the model at `path` with backend `name` ("auto" picks by path)."""
    if not path.exists():
        raise ModelError(f"model not found: {path}; pass --model PATH or run `router model assemble`")
    if name == "auto":
        name = detect_backend(path)
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(available())}") from None
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
    return factory(path, **options)
