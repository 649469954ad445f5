"""The `parley` command line end to end, with real keystores, against a relay on a loopback socket.

Slow by nature (each command unlocks an scrypt keystore, about 2 s): one scenario covers every
command family a new user meets first, plus the error exits.
"""

from __future__ import annotations

import json

import pytest

from cli_runner import run
from parley.demo import DEMO_RELAY_NAME, LocalRelay


def ok_json(*args: str):
    code, out, err = run("--json", *args)
    assert code == 0, (args, out, err)
    return json.loads(out)


@pytest.fixture
def relay(tmp_path):
    with LocalRelay(tmp_path / "relay", tmp_path / "relay.db") as local:
        yield local


def test_first_steps_of_two_delegations_through_the_cli(relay, tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_PASSPHRASE", "correct horse")
    data = ["--data", str(tmp_path / "relay"), "--database", str(tmp_path / "relay.db"), "--name", DEMO_RELAY_NAME]
    homes = {"ua": str(tmp_path / "ua"), "ru": str(tmp_path / "ru")}
    for key, name in (("ua", "Ukraine"), ("ru", "Russian Federation")):
        token = ok_json("relay", "invite-party", name, *data)["token"]
        created = ok_json("--home", homes[key], "party", "create", name, "--relay", relay.url, "--token", token)
        assert len(created["fingerprint"].split()) == 6
    ru_digits = ok_json("--home", homes["ru"], "party", "fingerprint")["fingerprint"]
    ua_digits = ok_json("--home", homes["ua"], "party", "fingerprint")["fingerprint"]
    # A wrong fingerprint is refused (exit 4) and the party stays unverified.
    wrong = " ".join("00000" for _ in range(6))
    code, _, err = run("--home", homes["ua"], "party", "trust", "Russian Federation", "--fingerprint", wrong)
    assert code == 4 and "does NOT match" in err
    ok_json("--home", homes["ua"], "party", "trust", "Russian Federation", "--fingerprint", ru_digits)
    ok_json("--home", homes["ru"], "party", "trust", "Ukraine", "--fingerprint", ua_digits)

    negotiation = ok_json("--home", homes["ua"], "negotiation", "create")["negotiation_id"]
    ok_json("--home", homes["ua"], "negotiation", "invite", negotiation, "Russian Federation")
    ok_json("--home", homes["ru"], "negotiation", "join", negotiation)
    ok_json("--home", homes["ua"], "issue", "add", negotiation, "Ceasefire", "--id", "ceasefire")
    memo = ok_json("--home", homes["ua"], "memo", "deliver", negotiation, "--to", "Russian Federation",
                   "--title", "Memorandum of Ukraine", "--position", "ceasefire=A full ceasefire for thirty days.")
    status = ok_json("--home", homes["ru"], "status", negotiation)
    assert [r["awaiting"] for r in status["awaiting_official_response"]] == ["Russian Federation"]
    exported = tmp_path / "copy.txt"
    ok_json("--home", homes["ru"], "memo", "export", negotiation, memo["memo_id"], "--out", str(exported))
    text = exported.read_text(encoding="utf-8")
    assert text.startswith("Copy for Head of delegation, Russian Federation") and "CONFIDENTIAL" in text
    ok_json("--home", homes["ru"], "memo", "pdf", negotiation, memo["memo_id"], "--out", str(tmp_path / "m.pdf"))
    assert (tmp_path / "m.pdf").read_bytes().startswith(b"%PDF")
    fetches = ok_json("--home", homes["ua"], "audit", "access", negotiation)
    assert any(f["party"] == "Russian Federation" for f in fetches)
    ok_json("--home", homes["ru"], "memo", "respond", negotiation, memo["memo_id"], "--stance", "ceasefire=accept")
    status = ok_json("--home", homes["ua"], "status", negotiation)
    assert status["awaiting_official_response"] == []
    assert status["positions_matrix"]["issues"][0]["status"] == "agreed"

    ok_json("--home", homes["ru"], "message", "send", negotiation, "Moscow confirms receipt.")
    messages = ok_json("--home", homes["ua"], "message", "list", negotiation)
    assert [m["content"]["text"] for m in messages] == ["Moscow confirms receipt."]
    verified = ok_json("--home", homes["ua"], "log", "verify", negotiation)
    assert verified["result"] == "verified" and verified["size"] == status["log_size"] + 1
    code, checkpoint, _ = run("--home", homes["ua"], "log", "checkpoint", negotiation)
    assert code == 0 and checkpoint.startswith(f"{DEMO_RELAY_NAME}/{negotiation}\n")

    # Friendly errors with the right exit codes.
    code, _, err = run("--home", str(tmp_path / "nobody"), "negotiation", "list")
    assert code == 2 and "no parley profile" in err
    monkeypatch.setenv("PARLEY_PASSPHRASE", "wrong")
    code, _, err = run("--home", homes["ua"], "negotiation", "list")
    assert code == 5 and "wrong passphrase" in err
