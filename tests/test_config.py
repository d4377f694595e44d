"""Settings: flags beat environment variables; errors name the flag; the key never leaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config import build_settings
from router.errors import ConfigError


def test_env_and_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROUTER_CLOUD_URL", "http://127.0.0.1:1/v1/")
    monkeypatch.setenv("ROUTER_CLOUD_MODEL", "m")
    monkeypatch.setenv("ROUTER_STATE_DIR", str(tmp_path))
    s = build_settings(cloud_model="flag-model", queue_size=None)
    assert s.cloud_url == "http://127.0.0.1:1/v1"
    assert s.cloud_model == "flag-model"
    assert s.decisions_db == tmp_path / "decisions.db"
    assert s.socket_path == tmp_path / "router.sock"
    assert s.cloud_configured


def test_key_from_env_or_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    assert build_settings(cloud_key_file=key_file).cloud_key() == "sk-from-file"
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", "sk-from-env")
    s = build_settings(cloud_key_file=key_file)
    assert s.cloud_key() == "sk-from-env"
    assert "sk-from-env" not in repr(s)


def test_systemd_credential(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "cloud-api-key").write_text("sk-cred")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert build_settings().cloud_key() == "sk-cred"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"listen": "nonsense"}, "--listen"),
        ({"listen": "127.0.0.1:5000"}, "TLS"),
        ({"cloud_url": "ftp://x"}, "--cloud-url"),
        ({"queue_size": 0}, "--queue-size"),
    ],
)
def test_bad_settings(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        build_settings(**kwargs)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the cloud key file"):
        build_settings(cloud_key_file=tmp_path / "nope").cloud_key()
