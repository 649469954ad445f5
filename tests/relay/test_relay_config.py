"""A relay's configuration: flags, ``PARLEY_RELAY_*`` variables and ``parley-relay.toml`` (one name each),
secrets kept off the command line, and no relay created by any command but ``parley relay init``."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

from parley.cli import output
from parley.cli.main import main
from parley.errors import ConfigError
from parley.relay.config import SETTINGS, load_config, read_config_file


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    output.console.file, output.err_console.file = out, err
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        output.console.file = output.err_console.file = None
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue(), " ".join(err.getvalue().split())  # the message unwrapped


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_flag_beats_variable_beats_file_beats_default(tmp_path: Path) -> None:
    config_file = _write(tmp_path / "parley-relay.toml", 'port = 9001\nhost = "0.0.0.0"\nname = "file.relay"\n'
                         'rate = 5\nlog-ids = true\nlimit-concurrency = 50\n')
    env = {"PARLEY_RELAY_PORT": "9002", "PARLEY_RELAY_NAME": "env.relay"}
    config = load_config({"port": 9003, "data": tmp_path / "data"}, config_file=config_file, environ=env)
    assert config.port == 9003  # flag
    assert config.name == "env.relay"  # variable over file
    assert config.host == "0.0.0.0"  # file  # noqa: S104
    assert config.limits.rate_per_device == 5.0 and config.log_ids is True and config.limit_concurrency == 50
    assert config.workers == 1 and config.log_format == "auto"  # defaults
    assert config.database == str(tmp_path / "data" / "relay.db")
    # The file may also be named by PARLEY_RELAY_CONFIG, and its settings may sit under [relay].
    under_table = _write(tmp_path / "table.toml", '[relay]\nport = 7000\n')
    assert load_config({}, environ={"PARLEY_RELAY_CONFIG": str(under_table)}).port == 7000


def test_every_setting_has_its_variable_and_file_key(tmp_path: Path) -> None:
    values = {"data": str(tmp_path), "database": "x.db", "database_file": str(tmp_path / "f"), "name": "n",
              "host": "h", "port": "1", "workers": "2", "rate": "1.5", "burst": "3", "http": "h11",
              "limit_concurrency": "4", "metrics_token": "t", "metrics_token_file": str(tmp_path / "g"),
              "log_format": "json", "log_level": "debug", "log_ids": "yes"}
    assert set(values) == set(SETTINGS)
    from parley.relay.config import environment_settings

    found = environment_settings({f"PARLEY_RELAY_{name.upper()}": value for name, value in values.items()})
    assert set(found) == set(SETTINGS)
    toml = "".join(f'{name.replace("_", "-")} = "{value}"\n' for name, value in values.items()
                   if SETTINGS[name][0] in (str, Path))
    assert set(read_config_file(_write(tmp_path / "all.toml", toml))) == {
        name for name in SETTINGS if SETTINGS[name][0] in (str, Path)}


def test_database_password_never_needed_on_the_command_line(tmp_path: Path, postgres_url: str) -> None:
    """The PostgreSQL URL with its password comes from the file, the environment or a file of its own."""
    secret = _write(tmp_path / "database-url", postgres_url + "\n")
    config_file = _write(tmp_path / "parley-relay.toml", f'data = "{tmp_path / "data"}"\n'
                         f'database-file = "{secret}"\nname = "pg.relay"\n', mode=0o640)
    code, out, err = run("--json", "relay", "init", "--config", str(config_file))
    assert code == 0, err
    assert json.loads(out)["name"] == "pg.relay"
    code, out, err = run("--json", "relay", "invite-party", "Ukraine", env={"PARLEY_RELAY_CONFIG": str(config_file)})
    assert code == 0, err
    assert json.loads(out)["token"]
    # The same through the environment alone.
    code, out, err = run("--json", "relay", "migrate", "--dry-run", env={
        "PARLEY_RELAY_DATA": str(tmp_path / "data"), "PARLEY_RELAY_DATABASE": postgres_url,
        "PARLEY_RELAY_NAME": "pg.relay"})
    assert code == 0, err
    assert json.loads(out)["revisions"] == []


def test_config_file_with_a_secret_readable_by_every_user_is_refused(tmp_path: Path) -> None:
    config_file = _write(tmp_path / "parley-relay.toml",
                         'database = "postgresql://parley:hunter2@db/parley"\n', mode=0o644)
    with pytest.raises(ConfigError, match="every user of this machine can read it"):
        read_config_file(config_file)
    _write(config_file, 'port = 1\n', mode=0o644)  # no secret: fine
    assert read_config_file(config_file) == {"port": 1}


@pytest.mark.parametrize("text, message", [
    ("port = \"eighty\"\n", "port must be a int"),
    ("portt = 1\n", "unknown setting 'portt'"),
    ("port = \n", "not valid TOML"),
    ("log-ids = \"maybe\"\n", "log-ids must be true or false"),
])
def test_bad_configuration_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_config_file(_write(tmp_path / "bad.toml", text))


def test_relay_info_with_a_mistyped_data_folder_creates_no_second_relay(tmp_path: Path) -> None:
    """A wrong --data used to create a new relay key silently; an operator then published a key that
    signs nothing of theirs. Every command but init refuses a folder without a relay key."""
    code, _, err = run("relay", "init", "--data", str(tmp_path / "relay"), "--name", "real.relay")
    assert code == 0, err
    mistyped = tmp_path / "rleay"
    for command in (["info"], ["invite-party", "Ukraine"], ["serve", "--port", "1"], ["migrate"],
                    ["backup", str(tmp_path / "b.db")], ["restore", str(tmp_path / "b.db")]):
        code, _, err = run("relay", *command, "--data", str(mistyped), "--name", "real.relay")
        assert code == 2, (command, err)
        assert "holds no relay key" in err and "parley relay init" in err
        assert not mistyped.exists(), command
    # init refuses to make a second key where one is.
    code, _, err = run("relay", "init", "--data", str(tmp_path / "relay"), "--name", "real.relay")
    assert code != 0 and "holds a relay key already" in err


def test_invite_party_without_data_does_not_create_a_relay_in_the_home_folder(tmp_path: Path) -> None:
    code, _, err = run("relay", "invite-party", "Ukraine", env={"HOME": str(tmp_path)})
    assert code == 2 and "holds no relay key" in err
    assert not (tmp_path / ".parley-relay").exists()


def test_init_makes_a_private_folder_and_key(tmp_path: Path) -> None:
    code, out, err = run("--json", "relay", "init", "--data", str(tmp_path / "relay"), "--name", "new.relay")
    assert code == 0, err
    created = json.loads(out)
    assert created["vkey"].startswith("new.relay+") and created["migrations"]
    assert (tmp_path / "relay").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "relay" / "relay.key").stat().st_mode & 0o777 == 0o600
    code, out, _ = run("--json", "relay", "info", "--data", str(tmp_path / "relay"), "--name", "new.relay")
    assert code == 0 and json.loads(out)["vkey"] == created["vkey"]
