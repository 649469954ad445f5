"""`make demo` end to end: the story plays, the files are there, and no plaintext reached the relay."""

from __future__ import annotations

import json

from rich.console import Console

from parley.demo import run_demo


def test_demo_plays_the_article_and_leaves_no_plaintext_at_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_PASSPHRASE", "demo")
    out = tmp_path / "demo-output"
    (out / "stale").mkdir(parents=True)  # a previous run's leftovers are replaced
    run_demo(out, console=Console(file=open(tmp_path / "console.txt", "w")))  # noqa: SIM115
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
    assert "ACCUSED: Delegate (deputy foreign minister) (Russian Federation)" in (out / "trace-report.txt").read_text()
    from parley.client.bundle import verify_bundle

    assert verify_bundle(out / "publication")["valid"]
    assert (out / "publication.zip").is_file()
    assert transcript.count("Good \"agreement-v1@parley\" signature") == 4
    relay_bytes = b"".join(p.read_bytes() for p in out.glob("relay.db*"))
    plaintexts = [line for line in (out / "plaintexts.txt").read_text().splitlines() if line]
    assert len(plaintexts) > 10
    for text in plaintexts:
        assert text.encode() not in relay_bytes, text
    for event_type in (b"memorandum.deliver", b"response.official", b"channel.message", b"meeting.propose"):
        assert event_type not in relay_bytes
