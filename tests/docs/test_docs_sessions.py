"""The README's "Using it" session and the user guide's walkthrough run exactly as written.

Each ``sh`` block is taken from the Markdown file and run by bash in a fresh folder, with the relay started
by the block itself (``parley relay serve ... &``) on a real loopback socket. The only change made to the
text is the relay's port (8470 -> a free one), so that parallel test runs do not collide.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT = "8470"


def sh_blocks(doc: Path, heading: str | None = None) -> str:
    """Every ```sh block under ``heading`` (up to the next heading of the same level), or of the whole
    document, joined in order."""
    section = text = doc.read_text(encoding="utf-8")
    if heading is not None:
        level = heading.split(" ", 1)[0]
        start = text.index(heading + "\n")
        following = re.search(rf"^{level} ", text[start + len(heading):], flags=re.MULTILINE)
        section = text[start: start + len(heading) + following.start()] if following else text[start:]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert blocks, f"no sh block under {heading} in {doc.name}"
    return "\n".join(blocks)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_script(script: str, folder: Path, timeout: float = 2300) -> subprocess.CompletedProcess:
    port = str(free_port())
    script = script.replace(f"127.0.0.1:{DEFAULT_PORT}", f"127.0.0.1:{port}")
    script = script.replace("parley relay serve ", f"parley relay serve --port {port} ")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "COLUMNS": "100"}
    env.pop("PARLEY_PASSPHRASE", None)
    env.pop("PARLEY_HOME", None)
    # Output to a file, not a pipe: a relay the script started and could not stop keeps a pipe open.
    log = folder / "session.log"
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "-euo", "pipefail", "-x", "-c", script], cwd=folder, env=env,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        try:
            process.wait(timeout=timeout)
        finally:
            try:  # the relay the script started, if the script stopped before its own `kill`
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    out = log.read_text()
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


@pytest.mark.timeout(1800)  # some 40 commands, each a new process that unlocks a keystore (scrypt)
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_readme_using_it_runs_as_written(tmp_path):
    script = sh_blocks(ROOT / "README.md", "## Using it")
    result = run_script(script, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:]
    assert (tmp_path / "publication" / "agreement.pdf").exists()
    assert "VALID" in result.stdout


@pytest.mark.timeout(2400)
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_user_guide_examples_run_as_written(tmp_path):
    script = sh_blocks(ROOT / "docs" / "user-guide.md")
    result = run_script(script, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:]
    assert (tmp_path / "meeting.ics").exists() and (tmp_path / "accord.pdf").exists()
    assert "official response 1 of 2 (replaced)" in result.stdout  # the first response is kept and shown


def test_exit_code_table_of_the_user_guide_matches_the_code():
    from parley import errors

    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", guide, flags=re.MULTILINE))
    families = {cls: cls.exit_code for cls in vars(errors).values()
                if isinstance(cls, type) and issubclass(cls, errors.ParleyError)}
    assert {str(code) for code in families.values()} <= set(table)
    assert set(table) - {str(code) for code in families.values()} <= {"0", "1", "130"}
    assert "not found" in table[str(errors.NotFoundError.exit_code)]
    assert "bad input" in table[str(errors.InputError.exit_code)]
    assert "keystore" in table[str(errors.KeystoreError.exit_code)]
    assert "invalid" in table["1"]  # parley verify
