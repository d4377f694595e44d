"""Local model backends, found by name in a registry.

The built-in backends register exactly the way a third-party one would: `register("name", "module:Class")`
or `register("name", factory)`. Importing this package imports no model library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from router.backends.base import (
    COMMON_OPTIONS,
    Backend,
    BackendOptions,
    Capabilities,
    Gap,
    ModelInfo,
    Piece,
    plain_prompt,
)
from router.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from router.config import Settings

__all__ = [
    "Backend",
    "BackendOptions",
    "Capabilities",
    "Gap",
    "ModelInfo",
    "Piece",
    "available",
    "check_name",
    "check_options",
    "detect_backend",
    "from_settings",
    "load_backend",
    "plain_prompt",
    "register",
]

BackendFactory = Callable[..., Backend]

_REGISTRY: dict[str, str | BackendFactory] = {}


def register(name: str, factory: str | BackendFactory) -> None:
    """Register a backend under `name`: a factory, or a "module:Class" string imported on first use.
    A factory that has an `Options` attribute (a BackendOptions model) gets its options checked."""
    _REGISTRY[name] = factory


register("llama_cpp", "router.backends.llama_cpp:LlamaCppBackend")
register("mlx", "router.backends.mlx:MlxBackend")
# A local runtime over HTTP (Ollama, llama.cpp's llama-server, LM Studio, vLLM): `--local-url`.
register("openai_http", "router.backends.openai_http:OpenAIHttpBackend")


def available() -> list[str]:
    return sorted(_REGISTRY)


def check_name(name: str) -> str:
    """`name` when it is a registered backend (or "auto"), else ConfigError listing the known ones."""
    if name != "auto" and name not in _REGISTRY:
        raise ConfigError(f"unknown backend {name!r}; choose one of auto, {', '.join(available())}")
    return name


def backend_factory(name: str) -> BackendFactory:
    """The factory registered as `name`, imported on first use (the module only; no model library)."""
    factory = _REGISTRY[check_name(name)]
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        _REGISTRY[name] = factory
    return factory


def check_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options for backend `name`, checked by its `Options` model: an unknown or invalid option is a
    ConfigError that names it and the options the backend takes. The common settings (n_ctx,
    n_threads, default_max_tokens) go to the backends that declare them and are left by the others."""
    model: type[BackendOptions] | None = getattr(backend_factory(name), "Options", None)
    if model is None:  # a third-party factory without an options model: it checks its own
        return dict(options)
    fields = model.model_fields
    given = {k: v for k, v in options.items() if k in fields or k not in COMMON_OPTIONS}
    try:
        return model.model_validate(given).model_dump()
    except ValidationError as e:
        first = e.errors()[0]
        option = ".".join(str(p) for p in first["loc"])
        allowed = ", ".join(sorted(fields))
        if first["type"] == "extra_forbidden":
            raise ConfigError(
                f"the {name} backend has no option {option!r}; it takes: {allowed} "
                "(check --backend-option / ROUTER_BACKEND_OPTIONS)"
            ) from None
        msg = first["msg"].removeprefix("Value error, ")
        where = f"option {option!r}" if option else "options"  # a check across options has no name
        raise ConfigError(f"{name} backend {where}: {msg} (it takes: {allowed})") from None


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


def load_backend(name: str, path: Path | None, **options: Any) -> Backend:
    """Load backend `name` ("auto" picks by the model path) with `options`, checked first.

    A backend that loads a model file (`model_file`, the default) gets `path`; one that reaches its
    model another way (openai_http) takes no path."""
    if name == "auto":
        if path is None or not path.exists():
            raise ModelError(f"model not found: {path}; pass --model PATH or run `router model assemble`")
        name = detect_backend(path)
    factory = backend_factory(name)
    checked = check_options(name, options)
    if not getattr(factory, "model_file", True):
        return factory(**checked)
    if path is None or not path.exists():
        raise ModelError(f"model not found: {path}; pass --model PATH or run `router model assemble`")
    return factory(path, **checked)


def from_settings(settings: Settings) -> Backend:
    """The local backend the daemon's settings describe: a runtime over HTTP with --local-url, else the
    model file (--model, or the default model) in process; --backend-option adds backend options."""
    from router.model import resolve_model

    options: dict[str, Any] = {
        "n_ctx": settings.n_ctx,
        "n_threads": settings.n_threads,
        "default_max_tokens": settings.default_max_tokens,
        **settings.local_options(),
        **settings.backend_options,
    }
    name = settings.local_backend
    needs_file = name == "auto" or getattr(backend_factory(name), "model_file", True)
    path = resolve_model(settings.model) if needs_file else None
    return load_backend(name, path, **options)
