"""The hardened systemd units (deploy/systemd): scored by `systemd-analyze security`, checked by `verify`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD_DIR = ROOT / "deploy" / "systemd"
UNITS = ("alpr-monitor-worker.service", "alpr-monitor-notifier.service")
DROP_INS = ("kafka-sasl.conf", "kafka-mtls.conf")
MAX_EXPOSURE = 2.5
# systemd 252 reads --threshold in tenths of the printed exposure level: 25 means 2.5.
THRESHOLD_TENTHS = "25"
CONTRACT_FILE_VARS = {
    "ALPR_KAFKA_SASL_PASSWORD_FILE",
    "ALPR_KAFKA_SSL_CA_FILE",
    "ALPR_KAFKA_SSL_CERT_FILE",
    "ALPR_KAFKA_SSL_KEY_FILE",
    "ALPR_KAFKA_SSL_KEY_PASSWORD_FILE",
    "ALPR_PSEUDONYM_KEY_FILE",
}


def _directives(path: Path) -> list[tuple[str, str]]:
    """(key, value) of every directive, repeated keys kept in order (configparser cannot hold them)."""
    pairs = []
    for line in path.read_text().splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            pairs.append((key.strip(), value.strip()))
    return pairs


def _values(path: Path, key: str) -> list[str]:
    return [value for k, value in _directives(path) if k == key]


def _environment(path: Path) -> dict[str, str]:
    return dict(value.split("=", 1) for value in _values(path, "Environment"))


def _security(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", f"--threshold={THRESHOLD_TENTHS}", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _exposure(output: str) -> float:
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d)", output)
    assert found, output
    return float(found.group(1))


@pytest.fixture(scope="module")
def system_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file-system root with systemd's own units, the shipped units and drop-ins, and an ExecStart to point at."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree("/usr/lib/systemd/system", root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    binary = root / "opt" / "alpr-monitor" / "bin" / "alpr-monitor"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for name in UNITS:
        shutil.copy(SYSTEMD_DIR / name, units / name)
    # One drop-in per unit, as an operator would install them.
    for name, drop_in in zip(UNITS, DROP_INS, strict=True):
        (units / f"{name}.d").mkdir()
        shutil.copy(SYSTEMD_DIR / drop_in, units / f"{name}.d" / "kafka.conf")
    return root


def _verify(root: Path, *units: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *units], capture_output=True, text=True, timeout=60, check=False
    )


class TestUnitSecurity:
    @pytest.mark.parametrize("unit", UNITS)
    def test_exposure_is_at_most_two_and_a_half(self, unit: str) -> None:
        """systemd-analyze security --offline scores the unit at or below 2.5 and exits 0 at that threshold."""
        proc = _security(SYSTEMD_DIR / unit)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert _exposure(proc.stdout) <= MAX_EXPOSURE

    def test_threshold_fails_an_unhardened_unit(self, tmp_path: Path) -> None:
        """The same check fails a unit with the worker's ExecStart and no hardening (so it can fail)."""
        bare = tmp_path / "bare.service"
        bare.write_text("[Service]\nExecStart=/opt/alpr-monitor/bin/alpr-monitor worker\n")
        proc = _security(bare)
        assert proc.returncode != 0
        assert _exposure(proc.stdout) > MAX_EXPOSURE


class TestUnitVerify:
    def test_verify_prints_nothing(self, system_root: Path) -> None:
        """systemd-analyze verify, with the drop-ins installed, has nothing to say about either unit."""
        proc = _verify(system_root, *UNITS)
        assert proc.returncode == 0
        assert proc.stdout + proc.stderr == ""

    def test_verify_reports_an_unknown_directive(self, system_root: Path, tmp_path: Path) -> None:
        """verify warns (with exit 0) on a misspelt directive, which is why any output counts as a failure."""
        root = tmp_path / "root"
        shutil.copytree(system_root, root, symlinks=True)
        unit = root / "etc" / "systemd" / "system" / UNITS[0]
        unit.write_text(unit.read_text().replace("ProtectClock=yes", "ProtectClock=yes\nProtectClok=yes"))
        proc = _verify(root, UNITS[0])
        assert "Unknown key 'ProtectClok'" in proc.stdout + proc.stderr


class TestUnitContract:
    @pytest.mark.parametrize("unit", UNITS)
    def test_does_not_restart_on_exit_two(self, unit: str) -> None:
        """Restart on failure, except exit 2 (unusable configuration or policy), with a start limit."""
        path = SYSTEMD_DIR / unit
        assert _values(path, "Restart") == ["on-failure"]
        assert _values(path, "RestartPreventExitStatus") == ["2"]
        assert _values(path, "StartLimitBurst")

    @pytest.mark.parametrize("unit", UNITS)
    def test_is_hardened_as_required(self, unit: str) -> None:
        """DynamicUser, ProtectSystem=strict, a syscall filter, no capabilities, no new privileges."""
        path = SYSTEMD_DIR / unit
        assert _values(path, "DynamicUser") == ["yes"]
        assert _values(path, "ProtectSystem") == ["strict"]
        assert "@system-service" in _values(path, "SystemCallFilter")
        assert _values(path, "CapabilityBoundingSet") == [""]
        assert _values(path, "NoNewPrivileges") == ["yes"]

    @pytest.mark.parametrize("unit", UNITS)
    def test_stop_timeout_exceeds_the_shutdown_bound(self, unit: str) -> None:
        """systemd waits longer than the process's own SIGTERM bound before killing it."""
        path = SYSTEMD_DIR / unit
        bound = int(_environment(path)["ALPR_SHUTDOWN_TIMEOUT_SECONDS"])
        (stop,) = _values(path, "TimeoutStopSec")
        assert int(stop.removesuffix("s")) > bound

    @pytest.mark.parametrize("path", [*(SYSTEMD_DIR / u for u in UNITS), *(SYSTEMD_DIR / d for d in DROP_INS)])
    def test_every_secret_file_is_a_loaded_credential(self, path: Path) -> None:
        """Each *_FILE setting is a contract variable pointing at %d/NAME, and NAME is loaded with LoadCredential."""
        credentials = {value.split(":", 1)[0] for value in _values(path, "LoadCredential")}
        files = {name: value for name, value in _environment(path).items() if name.endswith("_FILE")}
        assert files
        for name, value in files.items():
            assert name in CONTRACT_FILE_VARS, name
            assert value.startswith("%d/"), name
            assert value.removeprefix("%d/") in credentials, name
        assert all(
            value.split(":", 1)[1].startswith("/etc/alpr-monitor/credentials/")
            for value in _values(path, "LoadCredential")
        )

    def test_worker_state_lives_in_its_state_directory(self) -> None:
        """The worker's data dir is its StateDirectory under %S, the only place it may write."""
        path = SYSTEMD_DIR / UNITS[0]
        (state,) = _values(path, "StateDirectory")
        assert _environment(path)["ALPR_DATA_DIR"] == f"%S/{state}"
