"""The service definitions in contrib/: valid for systemd (``systemd-analyze verify``, no warning), hardened
(a dedicated user, ProtectSystem=strict, NoNewPrivileges; ``systemd-analyze security`` exposure at most
2.0 of 10), and the example configuration file is one the relay reads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from parley.relay.config import load_config, read_config_file

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
UNITS = ["parley-relay.service", "parley-relay-workers.service"]
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (Debian package "
                                   "'systemd', installed by scripts/system-deps.sh)")


def _installed_copy(unit: str, tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this installation's parley (verify checks the binary exists)."""
    parley = Path(sys.executable).parent / "parley"
    assert parley.exists(), parley
    text = (CONTRIB / unit).read_text().replace("/opt/parley/bin/parley", str(parley))
    copy = tmp_path / unit
    copy.write_text(text)
    return copy


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_unit_passes_systemd_analyze_verify_without_warnings(unit: str, tmp_path: Path) -> None:
    result = subprocess.run([ANALYZE, "verify", str(_installed_copy(unit, tmp_path))], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr


@needs_analyze
def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a bad value is reported (as a warning)."""
    copy = _installed_copy(UNITS[0], tmp_path)
    copy.write_text(copy.read_text().replace("ProtectSystem=strict", "ProtectSystem=bogus"))
    result = subprocess.run([ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert "protect system value" in result.stderr or result.returncode != 0


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_unit_exposure_is_low(unit: str, tmp_path: Path) -> None:
    result = subprocess.run([ANALYZE, "security", "--offline=yes", "--threshold=20",
                             str(_installed_copy(unit, tmp_path))], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_unit_runs_as_a_dedicated_user_with_hardening(unit: str) -> None:
    settings = [line.strip() for line in (CONTRIB / unit).read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for required in ("User=parley-relay", "Group=parley-relay", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=", "UMask=0077",
                     "StateDirectoryMode=0700"):
        assert required in settings, (unit, required)
    assert not any("--database" in line or "postgresql://" in line for line in settings)  # no secret in the unit
    assert "u parley-relay" in (CONTRIB / "parley-relay.sysusers").read_text()


def test_example_configuration_is_read_by_the_relay(tmp_path: Path) -> None:
    example = CONTRIB / "parley-relay.toml"
    settings = read_config_file(example)
    assert settings["data"] == Path("/var/lib/parley-relay") and settings["log_ids"] is False
    config = load_config({}, config_file=example, environ={})
    assert config.port == 8470 and config.name == "relay.example.org"
    assert config.database == "/var/lib/parley-relay/relay.db"
