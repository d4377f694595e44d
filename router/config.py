"""Daemon settings: one typed object, built once at start-up and handed down.

Precedence: command-line flag > environment variable `ROUTER_<NAME>` > default. The cloud API key is
only ever read from `ROUTER_CLOUD_API_KEY` or from a file (`--cloud-key-file`, or systemd's
`$CREDENTIALS_DIRECTORY/cloud-api-key`), never from the command line, and is never logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from router.errors import ConfigError

APP_DIR_NAME = "hybrid-router"


def default_state_dir() -> Path:
    """$ROUTER_STATE_DIR, else systemd's $STATE_DIRECTORY, else $XDG_STATE_HOME/hybrid-router."""
    if os.environ.get("ROUTER_STATE_DIR"):
        return Path(os.environ["ROUTER_STATE_DIR"])
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / APP_DIR_NAME


def parse_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:50051 or [::1]:50051), got {value!r}")
    return host, int(port)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="forbid", frozen=True)

    state_dir: Path = Field(default_factory=default_state_dir)
    socket: Path | None = None
    listen: str | None = None
    insecure: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    socket_mode: int = 0o660
    socket_group: str | None = None
    app_tokens: Path | None = None
    # The OpenAI-compatible HTTP door (router.http_door): off unless one of these is set.
    http_listen: str | None = None
    http_socket: Path | None = None

    policy: Path | None = None
    model: Path | None = None
    # Backend names and options are checked by the backends registry (router.backends): the name here,
    # the options when the backend is built (its options model refuses unknown ones).
    backend: str = "auto"
    backend_options: dict[str, Any] = Field(default_factory=dict)
    # A local runtime over HTTP as the local tier instead of --model (router.backends.openai_http).
    local_url: str | None = None
    local_model: str | None = None
    local_allow_remote: bool = False
    n_ctx: int = Field(default=4096, ge=256)
    n_threads: int | None = Field(default=None, ge=1)
    queue_size: int = Field(default=16, ge=1)
    default_max_tokens: int = Field(default=256, ge=1)
    max_request_chars: int = Field(default=200_000, ge=1)

    cloud_url: str | None = None
    cloud_model: str | None = None
    cloud_key_file: Path | None = None
    cloud_api_key: SecretStr | None = None
    cloud_timeout_s: float = Field(default=60.0, gt=0)
    cloud_connect_timeout_s: float = Field(default=5.0, gt=0)
    cloud_retries: int = Field(default=2, ge=0, le=10)
    # Deadlines (docs/operations.md): calls that set no deadline get `default_deadline_s`; the cloud
    # must send its first event within `cloud_first_byte_timeout_s` per attempt and, when the request
    # can fall back to the local model, within `cloud_fallback_after_s` in all.
    default_deadline_s: float = Field(default=120.0, gt=0)
    cloud_first_byte_timeout_s: float = Field(default=10.0, gt=0)
    cloud_fallback_after_s: float = Field(default=5.0, gt=0)
    cloud_max_retry_after_s: float = Field(default=5.0, ge=0)
    cloud_min_chars_per_s: float = Field(default=16.0, ge=0)
    # A RouteStream whose client reads nothing for this long is cancelled (its generation stops).
    stream_stall_s: float = Field(default=10.0, gt=0)
    # Pieces the local model may generate ahead of a caller that does not take them; then it stops.
    stream_max_unread: int = Field(default=64, ge=1)

    metrics_listen: str | None = None
    # What clients can hold (docs/operations.md, "Limits"): connections (also capped by the descriptor
    # limit), calls in progress (more get RESOURCE_EXHAUSTED), calls per connection, seconds to finish
    # the HTTP/2 handshake, seconds a connection without calls stays open.
    max_connections: int = Field(default=4096, ge=1)
    max_concurrent_rpcs: int = Field(default=512, ge=1)
    max_streams_per_connection: int = Field(default=64, ge=1)
    handshake_timeout_s: float = Field(default=10.0, gt=0)
    idle_timeout_s: float = Field(default=300.0, gt=0)
    # Distinct app ids counted in /metrics and GetStats; later ones are folded into the app "_other".
    stats_max_apps: int = Field(default=100, ge=1)
    retention_days: float = Field(default=30.0, ge=0)
    grace_s: float = Field(default=10.0, ge=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("listen", "metrics_listen", "http_listen")
    @classmethod
    def _check_listen(cls, v: str | None) -> str | None:
        if v is not None:
            parse_host_port(v)
        return v

    @field_validator("cloud_url")
    @classmethod
    def _check_cloud_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"cloud URL must start with http:// or https://, got {v!r}")
        return v.rstrip("/") if v else None

    @field_validator("backend")
    @classmethod
    def _check_backend(cls, v: str) -> str:
        from router.backends import check_name

        try:
            return check_name(v)
        except ConfigError as e:
            raise ValueError(e.message) from None

    @model_validator(mode="after")
    def _check_local_url(self) -> Settings:
        if self.local_url is None:
            if self.local_model is not None:
                raise ValueError("--local-model names a model of the runtime at --local-url; pass both")
            return self
        from router.backends.openai_http import check_local_url

        if not self.local_model:
            raise ValueError(
                "--local-url needs --local-model (ROUTER_LOCAL_MODEL): the runtime's name for the model, "
                "e.g. llama3.2 for Ollama (see its /v1/models)"
            )
        if self.model is not None:
            raise ValueError(
                "--model loads a model in this process and --local-url uses a runtime's; pass one of them"
            )
        if self.backend not in ("auto", "openai_http"):
            raise ValueError(f"--local-url uses the openai_http backend, not --backend {self.backend}")
        try:
            check_local_url(self.local_url, self.local_allow_remote)
        except ValueError as e:
            raise ValueError(f"--local-url {self.local_url}: {e}") from None
        return self

    @model_validator(mode="after")
    def _check_tls(self) -> Settings:
        if self.listen and not self.insecure and not (self.tls_cert and self.tls_key):
            raise ValueError(
                f"--listen {self.listen} needs TLS: pass --tls-cert and --tls-key (ROUTER_TLS_CERT, "
                "ROUTER_TLS_KEY), or --insecure (ROUTER_INSECURE=1) to allow plaintext"
            )
        if self.http_listen and not self.insecure and not (self.tls_cert and self.tls_key):
            raise ValueError(
                f"--http-listen {self.http_listen} needs TLS: pass --tls-cert and --tls-key "
                "(ROUTER_TLS_CERT, "
                "ROUTER_TLS_KEY), or --insecure (ROUTER_INSECURE=1) to allow plaintext"
            )
        return self

    @property
    def local_backend(self) -> str:
        """The local backend's name: openai_http with --local-url, else --backend."""
        return "openai_http" if self.local_url is not None else self.backend

    def local_options(self) -> dict[str, Any]:
        """The backend options --local-url, --local-model and --local-allow-remote stand for."""
        if self.local_url is None:
            return {}
        return {"url": self.local_url, "model": self.local_model, "allow_remote": self.local_allow_remote}

    @property
    def socket_path(self) -> Path:
        return self.socket if self.socket is not None else self.state_dir / "router.sock"

    @property
    def decisions_db(self) -> Path:
        return self.state_dir / "decisions.db"

    @property
    def cloud_configured(self) -> bool:
        return bool(self.cloud_url and self.cloud_model)

    def cloud_key(self) -> str | None:
        """The API key from the environment, the key file, or a systemd credential (in that order)."""
        if self.cloud_api_key is not None:
            return self.cloud_api_key.get_secret_value()
        candidates = [self.cloud_key_file]
        if os.environ.get("CREDENTIALS_DIRECTORY"):
            candidates.append(Path(os.environ["CREDENTIALS_DIRECTORY"]) / "cloud-api-key")
        for path in candidates:
            if path is None:
                continue
            try:
                return path.read_text().strip() or None
            except OSError as e:
                raise ConfigError(f"cannot read the cloud key file {path}: {e.strerror}") from None
        return None


def build_settings(**overrides: Any) -> Settings:
    """Settings from flags (`overrides`, None meaning "not given") and the environment."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as e:
        first = e.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        name = ".".join(str(p) for p in first["loc"])
        if not name:  # a check across settings (e.g. --listen without TLS): its message names the flags
            raise ConfigError(msg) from None
        flag = "--" + name.replace("_", "-")
        raise ConfigError(f"{flag} (or ROUTER_{name.upper()}): {msg}") from None
