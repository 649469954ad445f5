"""`make demo` end to end: the story plays, the files are there, and no plaintext reached the relay."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from rich.console import Console

from parley.demo import run_demo


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, played once for the tests of this module."""
    tmp_path = tmp_path_factory.mktemp("demo")
    old = os.environ.get("PARLEY_PASSPHRASE")
    os.environ["PARLEY_PASSPHRASE"] = "demo"
    try:
        out = tmp_path / "demo-output"
        (out / "stale").mkdir(parents=True)  # a previous run's leftovers are replaced
        run_demo(out, console=Console(file=open(tmp_path / "console.txt", "w")))  # noqa: SIM115
    finally:
        if old is None:
            os.environ.pop("PARLEY_PASSPHRASE", None)
        else:
            os.environ["PARLEY_PASSPHRASE"] = old
    return out


def _demo_plaintexts(out: Path) -> list[str]:
    plaintexts = [line for line in (out / "plaintexts.txt").read_text().splitlines() if line]
    assert len(plaintexts) > 10
    return plaintexts


def test_demo_plays_the_article_and_leaves_no_plaintext_at_rest(demo_out: Path):
    out = demo_out
    assert not (out / "stale").exists()
    for name in ("relay.db", "transcript.md", "plaintexts.txt", "status.json", "trace-report.txt"):
        assert (out / name).is_file(), name
    profiles = sorted(p.name for p in (out / "profiles").iterdir())
    assert profiles == ["russia-delegate", "russia-head", "turkiye-delegate", "turkiye-head", "ukraine-delegate",
                        "ukraine-head", "usa-head", "usa-observer"]
    assert list((out / "meetings").glob("*.ics"))
    status = json.loads((out / "status.json").read_text())
    assert {row["status"] for row in status["positions_matrix"]["issues"]} == {"agreed", "open"}
    transcript = (out / "transcript.md").read_text()
    assert "DETECTED" in transcript
    assert "Kyiv has not answered yet" in transcript
    # The Washington-Moscow channel reaches Ukraine as hidden entries only.
    hidden = re.search(r"Ukraine's copy of the log holds (\d+) events only as hidden entries", transcript)
    assert hidden is not None and int(hidden.group(1)) >= 3  # opening, two messages (and tracing records)
    assert "ACCUSED: Delegate (deputy foreign minister) (Russian Federation)" in (out / "trace-report.txt").read_text()
    from parley.client.bundle import verify_bundle

    report = verify_bundle(out / "publication", "all")  # every signing party cosigned the published log
    assert report["valid"], report["failures"]
    # the memorandum's PDF annex and the agreement's map, both annexed to the agreement and checked
    assert {"annexes/annex-1-map.pdf", "annexes/annex-prisoners.pdf"} <= set(report["checked"])
    assert (out / "publication.zip").is_file()
    assert transcript.count("Good \"agreement-v2@parley\" signature") == 4
    relay_bytes = b"".join(p.read_bytes() for p in out.glob("relay.db*"))
    for text in _demo_plaintexts(out):
        assert text.encode() not in relay_bytes, text
    for event_type in (b"memorandum.deliver", b"response.official", b"channel.message", b"meeting.propose"):
        assert event_type not in relay_bytes


def test_copied_profile_reveals_memorandum(demo_out: Path):
    """Someone copies a member's profile folder (a stolen laptop, a backup): without the passphrase, no
    file of any demo profile holds any text of the negotiation, in any encoding a store would use."""
    plaintexts = _demo_plaintexts(demo_out)
    needles = []
    for text in plaintexts:
        for form in (text.encode(), json.dumps(text).encode()[1:-1], text.encode("utf-16-le")):
            needles.append((text, form[:48]))  # a prefix: a text cut across pages is still found
    for event_type in ("memorandum.deliver", "response.official", "channel.message", "tracing.secret"):
        needles.append((event_type, f'"{event_type}"'.encode()))
    files = [p for p in (demo_out / "profiles").rglob("*") if p.is_file()]
    assert any(p.name == "cache.db" for p in files)
    found = [(str(p.relative_to(demo_out)), text) for p in files for text, needle in needles
             if needle in p.read_bytes()]
    assert found == []
    for path in (demo_out / "profiles").rglob("*"):  # each profile folder and everything in it
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def _age_payload_length(blob: bytes) -> int:
    """The bytes after the age header: what a relay measures exactly (the header's own length varies with
    the recipients and rage's random grease stanza)."""
    end = blob.index(b"\n---")
    return len(blob) - blob.index(b"\n", end + 1) - 1


def _padded_plaintext_length(payload: int) -> int:
    """Invert age's STREAM framing: a 16-byte nonce, then 64 KiB chunks each with a 16-byte tag."""
    body = payload - 16
    chunks = max(1, -(-body // (65536 + 16)))
    return body - 16 * chunks


def test_relay_reads_text_length_from_ciphertext_size(demo_out: Path):
    """Decode the demo's relay.db as its operator could: what it holds is what docs/security.md's table
    says, and a ciphertext's size tells only the Padmé bucket of its text (not the text's length)."""
    import sqlite3

    from parley.crypto.padding import padme_length
    from parley.store.codec import unpack_header

    db = sqlite3.connect(str(demo_out / "relay.db"))
    try:
        headers = [json.loads(unpack_header(row[0])) for row in db.execute("SELECT header FROM events")]
        blobs = [row[0] for row in db.execute("SELECT blob FROM ciphertexts")]
    finally:
        db.close()
    assert len(blobs) > 50
    sizes = [_padded_plaintext_length(_age_payload_length(blob)) for blob in blobs]
    assert [s for s in sizes if padme_length(s) != s] == []  # every size is a bucket
    # The table's columns, and nothing else, are in the clear for an encrypted event.
    readable = {"v", "negotiation", "author", "created", "prev", "nonce", "audience", "authority", "ciphertexts",
                "public", "checkpoint", "tags"}
    encrypted = [h for h in headers if h["public"] is None]
    assert encrypted and all(set(h) == readable for h in encrypted)
    # Audience tags are padded to the negotiation's devices: their count follows the negotiation, not the audience.
    assert all(len(h["tags"]) >= sum(len(ref["recipients"]) for ref in h["ciphertexts"]) for h in encrypted)
    assert all(set(ref) == {"sha256", "recipients"} for h in encrypted for ref in h["ciphertexts"])
    public_types = {h["public"]["type"] for h in headers if h["public"] is not None}
    from parley.protocol.state import PUBLIC_TYPES

    assert public_types <= set(PUBLIC_TYPES)  # only the structural events the relay must police are typed
