"""``parley backup`` (and the device commands) through the command line, with real keystores and a relay on a
loopback socket."""

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


@pytest.fixture
def ukraine(relay, tmp_path, monkeypatch):
    """A party with one negotiation holding one message; returns (home, negotiation id)."""
    monkeypatch.setenv("PARLEY_PASSPHRASE", "correct horse")
    data = ["--data", str(tmp_path / "relay"), "--database", str(tmp_path / "relay.db"), "--name", DEMO_RELAY_NAME]
    home = str(tmp_path / "ua")
    token = ok_json("relay", "invite-party", "Ukraine", *data)["token"]
    ok_json("--home", home, "party", "create", "Ukraine", "--relay", relay.url, "--token", token)
    negotiation = ok_json("--home", home, "negotiation", "create")["negotiation_id"]
    ok_json("--home", home, "message", "send", negotiation, "Kyiv keeps its fallback line.")
    return home, negotiation


def test_backup_and_restore_through_the_cli(ukraine, tmp_path, monkeypatch):
    home, negotiation = ukraine
    made = ok_json("--home", home, "backup", "create", "--out", str(tmp_path / "ua.backup"), "--recovery-key")
    assert made["recovery_key"].startswith("AGE-SECRET-KEY-1") and negotiation in made["negotiations"]
    # A restore never overwrites a profile.
    monkeypatch.setenv("PARLEY_RECOVERY_KEY", made["recovery_key"])
    code, _, err = run("--home", home, "backup", "restore", str(tmp_path / "ua.backup"))
    assert code == 2 and "never overwrites" in err
    new_home = str(tmp_path / "new-laptop")
    monkeypatch.setenv("PARLEY_PASSPHRASE", "a new laptop passphrase")
    restored = ok_json("backup", "restore", str(tmp_path / "ua.backup"), "--profile", new_home)
    assert restored["relay"] == "verified" and negotiation in restored["negotiations"]
    messages = ok_json("--home", new_home, "message", "list", negotiation)
    assert [m["content"]["text"] for m in messages] == ["Kyiv keeps its fallback line."]
    # The passphrase variant, and a wrong passphrase (exit 5, nothing written).
    monkeypatch.setenv("PARLEY_BACKUP_PASSPHRASE", "a long backup passphrase")
    ok_json("--home", new_home, "backup", "create", "--out", str(tmp_path / "pp.backup"))
    monkeypatch.setenv("PARLEY_BACKUP_PASSPHRASE", "not the backup passphrase")
    code, _, err = run("backup", "restore", str(tmp_path / "pp.backup"), "--profile", str(tmp_path / "x"))
    assert code == 5 and "wrong passphrase" in err
    assert not (tmp_path / "x").exists()


def test_link_list_and_remove_a_device_through_the_cli(ukraine, tmp_path, monkeypatch):
    home, negotiation = ukraine
    phone = str(tmp_path / "phone")
    relay_url = json.loads((tmp_path / "ua" / "profile.json").read_text())["relay_url"]
    code = ok_json("--home", phone, "device", "link", "--new", "--relay", relay_url, "--label", "phone")["code"]
    linked = ok_json("--home", home, "device", "link", code.lower().replace("-", " "))
    finished = ok_json("--home", phone, "device", "link", "--finish")
    assert finished["device_key_id"] == linked["device_key_id"] and finished["negotiations"] == [negotiation]
    members = ok_json("--home", home, "party", "show")["members"]
    assert len(members) == 2 and len({m["person"] for m in members}) == 1  # two devices, one person
    assert sorted(m["linked_by"] is None for m in members) == [False, True]
    devices = ok_json("--home", phone, "device", "list")
    assert len(devices) == 2 and [d["this_device"] for d in devices].count(True) == 1
    # Earlier content stays unreadable to the phone until a head grants it.
    assert ok_json("--home", phone, "message", "list", negotiation) == []
    ok_json("--home", home, "history", "grant", negotiation, "--device", linked["device_key_id"])
    earlier = ok_json("--home", phone, "message", "list", negotiation)
    assert [(m["content"]["text"], m["granted_by"]) for m in earlier] == [
        ("Kyiv keeps its fallback line.", "Head of delegation")]
    ok_json("--home", phone, "message", "send", negotiation, "Sent from the phone.")
    messages = ok_json("--home", home, "message", "list", negotiation)
    assert messages[-1]["content"]["text"] == "Sent from the phone."
    # The laptop is lost: removed from the phone; it can no longer post.
    laptop_id = next(d["device_key_id"] for d in devices if not d["this_device"])
    ok_json("--home", phone, "device", "remove", laptop_id, "--yes")
    code, _, err = run("--home", home, "message", "send", negotiation, "the thief writes")
    assert code == 4 or code == 7 or code == 1, err
    assert [d["device_key_id"] for d in ok_json("--home", phone, "device", "list")] == [linked["device_key_id"]]


def test_relay_stopped_and_restarted_with_acts_in_the_outbox_through_the_cli(tmp_path, monkeypatch):
    import parley.demo

    monkeypatch.setenv("PARLEY_PASSPHRASE", "correct horse")
    data = ["--data", str(tmp_path / "relay"), "--database", str(tmp_path / "relay.db"), "--name", DEMO_RELAY_NAME]
    home = str(tmp_path / "ua")
    with LocalRelay(tmp_path / "relay", tmp_path / "relay.db") as first:
        port = first.port
        token = ok_json("relay", "invite-party", "Ukraine", *data)["token"]
        ok_json("--home", home, "party", "create", "Ukraine", "--relay", first.url, "--token", token)
        negotiation = ok_json("--home", home, "negotiation", "create")["negotiation_id"]
        ok_json("--home", home, "message", "send", negotiation, "before the outage")
    # The relay is down: reads from the verified local copy, marked as of its checkpoint.
    code, out, err = run("--json", "--home", home, "status", negotiation)
    assert code == 0, err
    assert json.loads(out)["offline"]["size"] == json.loads(out)["log_size"]
    assert "shown as of its last verified checkpoint" in err
    code, out, err = run("--json", "--home", home, "party", "show")
    assert code == 0 and json.loads(out)["as_of"].startswith("the verified local copy"), err
    code, out, err = run("--json", "--home", home, "message", "send", negotiation, "written offline")
    assert code == 0 and "1 act(s) wait in the outbox" in err, err
    assert [(i["type"], i["state"]) for i in ok_json("--home", home, "outbox")] == [("message", "pending")]
    # The relay is back on its port: the next command posts the outbox first, once.
    monkeypatch.setattr(parley.demo, "_free_port", lambda: port)
    with LocalRelay(tmp_path / "relay", tmp_path / "relay.db"):
        code, out, err = run("--json", "--home", home, "message", "list", negotiation)
        assert code == 0 and "outbox: posted message" in err, err
        assert [m["content"]["text"] for m in json.loads(out)] == ["before the outage", "written offline"]
        assert [i["state"] for i in ok_json("--home", home, "outbox")] == ["posted"]
        assert len(ok_json("--home", home, "message", "list", negotiation)) == 2
