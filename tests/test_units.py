"""The systemd units: the shipped copies, `router install-service`, and systemd-analyze's opinion."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from router.cli.service import install_service
from router.units import UnitOptions, render_service, render_socket

REPO = Path(__file__).parents[1]
needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (package: systemd)"
)


def fake_router(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    exe = directory / "router"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def analyze(*units: Path) -> str:
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return (proc.stdout + proc.stderr).strip() + (
        "" if proc.returncode == 0 else f"\n(exit {proc.returncode})"
    )


def test_shipped_units_are_the_rendered_defaults() -> None:
    assert (REPO / "systemd" / "router.service").read_text() == render_service(UnitOptions())
    assert (REPO / "systemd" / "router.socket").read_text() == render_socket(UnitOptions())


def test_service_has_the_required_settings() -> None:
    lines = render_service().splitlines()
    for wanted in (
        "Type=notify",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "DynamicUser=yes",
        "StateDirectory=hybrid-router",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "MemoryMax=8G",
        "LoadCredential=cloud-api-key:/etc/hybrid-router/cloud-api-key",
        "Requires=router.socket",
    ):
        assert wanted in lines
    assert any(x.startswith("RestrictAddressFamilies=AF_UNIX ") for x in lines)
    assert "ListenStream=/run/hybrid-router/router.sock" in render_socket().splitlines()


def test_home_install_keeps_home_readable_and_user_replaces_dynamic_user() -> None:
    text = render_service(UnitOptions(executable=Path("/home/ada/.venv/bin/router"), user="router"))
    assert "ProtectHome=read-only" in text.splitlines()
    assert "User=router" in text.splitlines() and "DynamicUser=yes" not in text
    assert "ProtectHome=yes" in render_service().splitlines()


def test_exec_start_escapes_specifiers_and_spaces() -> None:
    o = UnitOptions(executable=Path("/opt/my router/bin/router"), policy=Path("/etc/100%/$p.yaml"))
    assert o.exec_start() == "'/opt/my router/bin/router' serve --policy '/etc/100%%/$$p.yaml'"


def test_install_service_writes_units_with_this_installs_paths(tmp_path: Path) -> None:
    exe = fake_router(tmp_path / "venv dir" / "bin")
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\n")
    key = tmp_path / "key"
    key.write_text("sk-test\n")
    out = tmp_path / "units"
    result = CliRunner().invoke(
        install_service,
        [
            "--dir", str(out), "--executable", str(exe), "--policy", str(policy),
            "--cloud-key-file", str(key), "--state-dir", str(tmp_path / "state"),
            "--socket-group", "apps", "--metrics-listen", "127.0.0.1:9464",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    service = (out / "router.service").read_text().splitlines()
    socket_unit = (out / "router.socket").read_text().splitlines()
    assert f"ExecStart='{exe}' serve --policy {policy} --metrics-listen 127.0.0.1:9464" in service
    assert f"LoadCredential=cloud-api-key:{key}" in service
    assert f"Environment=ROUTER_STATE_DIR={tmp_path / 'state'}" in service
    assert f"ReadWritePaths={tmp_path / 'state'}" in service
    assert "SocketGroup=apps" in socket_unit
    assert f"wrote {out / 'router.service'}" in result.output


def test_install_service_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    exe = fake_router(tmp_path / "bin")
    runner = CliRunner()
    base = ["--dir", str(tmp_path), "--executable", str(exe), "--no-cloud-key"]
    assert runner.invoke(install_service, base).exit_code == 0
    assert runner.invoke(install_service, base).exit_code == 0  # same content: fine
    changed = runner.invoke(install_service, [*base, "--memory-max", "2G"])
    assert changed.exit_code != 0
    assert "--force" in changed.output
    assert "MemoryMax=8G" in (tmp_path / "router.service").read_text()
    forced = runner.invoke(install_service, [*base, "--memory-max", "2G", "--force"])
    assert forced.exit_code == 0
    assert "MemoryMax=2G" in (tmp_path / "router.service").read_text()


def test_install_service_rejects_bad_input(tmp_path: Path) -> None:
    exe = fake_router(tmp_path / "bin")
    runner = CliRunner()
    bad_metrics = runner.invoke(install_service, ["--dir", str(tmp_path), "--executable", str(exe),
                                                  "--metrics-listen", "9464"])  # fmt: skip
    assert bad_metrics.exit_code == 2 and "HOST:PORT" in bad_metrics.output
    bad_mode = runner.invoke(install_service, ["--dir", str(tmp_path), "--executable", str(exe),
                                               "--socket-mode", "rw"])  # fmt: skip
    assert bad_mode.exit_code == 2 and "octal" in bad_mode.output
    assert not (tmp_path / "router.service").exists()


def test_install_service_print_writes_nothing(tmp_path: Path) -> None:
    exe = fake_router(tmp_path / "bin")
    result = CliRunner().invoke(
        install_service, ["--dir", str(tmp_path / "u"), "--executable", str(exe), "--print"]
    )
    assert result.exit_code == 0
    assert "[Socket]" in result.output and "Type=notify" in result.output
    assert not (tmp_path / "u").exists()


def test_install_service_has_help() -> None:
    result = CliRunner().invoke(install_service, ["--help"])
    assert result.exit_code == 0 and "systemd units" in result.output


@needs_analyze
def test_installed_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    exe = fake_router(tmp_path / "with space" / "bin")
    out = tmp_path / "units"
    result = CliRunner().invoke(
        install_service, ["--dir", str(out), "--executable", str(exe), "--no-cloud-key"]
    )
    assert result.exit_code == 0, result.output
    assert analyze(out / "router.socket", out / "router.service") == ""


@needs_analyze
def test_systemd_analyze_catches_a_broken_unit(tmp_path: Path) -> None:
    """The verification above can fail: a misspelt key and a missing executable are reported."""
    exe = fake_router(tmp_path / "bin")
    text = render_service(UnitOptions(executable=exe)).replace("ProtectSystem=", "ProtectSytem=")
    (tmp_path / "router.service").write_text(text)
    (tmp_path / "router.socket").write_text(render_socket())
    assert "Unknown key 'ProtectSytem'" in analyze(tmp_path / "router.socket", tmp_path / "router.service")
    exe.unlink()
    assert "is not executable" in analyze(tmp_path / "router.socket", tmp_path / "router.service")


@needs_analyze
def test_verify_units_script_passes() -> None:
    proc = subprocess.run(
        [str(REPO / "scripts" / "verify-units")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout
