"""What a new user meets first: listing and reading, names instead of ids, signing with eyes open, nothing
silently replaced, dates and zones, passphrases. In-process CLI against a relay on a loopback socket.

Every bad input is checked for its message, its documented exit code, and that it changed nothing.
"""

from __future__ import annotations

import json

import pytest

from cli_runner import run
from parley.demo import DEMO_RELAY_NAME, LocalRelay

STRONG = "correct horse battery staple"


def ok(*args: str) -> str:
    code, out, err = run(*args)
    assert code == 0, (args, out, err)
    return out


def ok_json(*args: str):
    return json.loads(ok("--json", *args))


@pytest.fixture(autouse=True)
def strong_passphrase(monkeypatch):
    """Every test starts from the session's passphrase, whatever ran before it."""
    monkeypatch.setenv("PARLEY_PASSPHRASE", STRONG)
    monkeypatch.delenv("PARLEY_NEW_MEMBER_PASSPHRASE", raising=False)
    monkeypatch.delenv("PARLEY_ALLOW_WEAK_PASSPHRASE", raising=False)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Ukraine and the Russian Federation in one negotiation with two key issues and a memorandum."""
    tmp = tmp_path_factory.mktemp("newcomer")
    mp = pytest.MonkeyPatch()
    mp.setenv("PARLEY_PASSPHRASE", STRONG)
    with LocalRelay(tmp / "relay", tmp / "relay.db") as relay:
        data = ["--data", str(tmp / "relay"), "--database", str(tmp / "relay.db"), "--name", DEMO_RELAY_NAME]
        homes = {"ua": str(tmp / "ua"), "ru": str(tmp / "ru")}
        for key, name in (("ua", "Ukraine"), ("ru", "Russian Federation")):
            token = ok_json("relay", "invite-party", name, *data)["token"]
            ok_json("--home", homes[key], "party", "create", name, "--relay", relay.url, "--token", token)
        ua_digits = ok("--home", homes["ua"], "party", "fingerprint", "--digits").strip()
        ru_digits = ok("--home", homes["ru"], "party", "fingerprint", "--digits").strip()
        ok("--home", homes["ua"], "party", "trust", "Russian Federation", "--fingerprint", ru_digits)
        ok("--home", homes["ru"], "party", "trust", "Ukraine", "--fingerprint", ua_digits)
        talks = ok("--home", homes["ua"], "negotiation", "create", "--title", "Istanbul talks").strip()
        ok("--home", homes["ua"], "negotiation", "invite", talks, "Russian Federation")
        ok("--home", homes["ru"], "negotiation", "join", talks)
        ok("--home", homes["ua"], "issue", "add", talks, "Ceasefire", "--id", "ceasefire")
        ok("--home", homes["ua"], "issue", "add", talks, "Prisoner exchange", "--id", "prisoners")
        memo = ok("--home", homes["ua"], "memo", "deliver", talks, "--to", "Russian Federation", "--title",
                  "Memorandum of Ukraine", "--position", "ceasefire=Thirty days.",
                  "--position", "Prisoner exchange=All for all.").strip()
        yield {"tmp": tmp, "data": data, "relay": relay, "ua": homes["ua"], "ru": homes["ru"], "talks": talks,
               "memo": memo}
    mp.undo()


def log_size(session) -> int:
    return ok_json("--home", session["ua"], "status", session["talks"])["log_size"]


def test_invite_party_without_data_creates_no_relay(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    code, out, err = run("relay", "invite-party", "Ukraine")
    assert code == 2 and "holds no relay key" in err and "--data" in err
    assert not (tmp_path / ".parley-relay").exists()


def test_relay_ping_names_a_relay_that_does_not_answer():
    code, _, err = run("relay", "ping", "http://127.0.0.1:9")
    assert code == 7 and "did not answer" in err


def test_negotiation_title_reaches_the_party_that_joined_later(session):
    listed = ok_json("--home", session["ru"], "negotiation", "list")
    assert [n["title"] for n in listed if n["negotiation_id"] == session["talks"]] == ["Istanbul talks"]
    assert "Istanbul talks" in ok("--home", session["ru"], "negotiation", "show", session["talks"])


def test_issue_title_accepted_where_an_id_is_expected(session):
    issues = ok_json("--home", session["ru"], "issue", "list", session["talks"])
    assert [(i["issue_id"], i["title"]) for i in issues] == [("ceasefire", "Ceasefire"),
                                                             ("prisoners", "Prisoner exchange")]
    memo = ok_json("--home", session["ru"], "memo", "show", session["talks"], session["memo"])
    assert [p["issue_id"] for p in memo["positions"]] == ["ceasefire", "prisoners"]


def test_unknown_issue_says_what_to_do_and_changes_nothing(session):
    before = log_size(session)
    code, _, err = run("--home", session["ua"], "memo", "deliver", session["talks"], "--to", "Russian Federation",
                       "--title", "M", "--position", "Prisoner exchang=x")
    assert code == 3 and "unknown key issue 'Prisoner exchang'" in err and "did you mean 'prisoners'" in err
    code, _, err = run("--home", session["ua"], "memo", "deliver", session["talks"], "--to", "Russian Federation",
                       "--title", "M", "--position", "elections=x")
    assert code == 3 and "ceasefire (Ceasefire)" in err
    assert log_size(session) == before


def test_status_and_lists_show_the_ids_a_user_types_next(session):
    status = ok("--home", session["ru"], "status", session["talks"])
    assert session["memo"] in status and "Istanbul talks" in status
    memos = ok("--home", session["ru"], "memo", "list", session["talks"])
    assert session["memo"] in memos and "Memorandum" in memos  # the id is never wrapped; the title may be
    shown = ok("--home", session["ru"], "memo", "show", session["talks"], session["memo"])
    assert "from Ukraine to Russian Federation" in shown and "Prisoner exchange (prisoners)" in shown
    assert not shown.lstrip().startswith("{")


def test_second_official_response_is_a_new_version_and_the_first_stays(session):
    talks, memo, ru = session["talks"], session["memo"], session["ru"]
    ok("--home", ru, "memo", "respond", talks, memo, "--stance", "prisoners=accept", "--text", "First answer.")
    before = log_size(session)
    # no terminal and no --yes: refused, nothing posted
    code, _, err = run("--home", ru, "memo", "respond", talks, memo, "--stance", "ceasefire=reject")
    assert code == 2 and "replaces your official response" in err and "--yes" in err
    assert log_size(session) == before
    out = ok("--home", ru, "memo", "respond", talks, memo, "--stance", "ceasefire=reject", "--yes")
    assert "replaces your response of" in out
    shown = ok_json("--home", session["ua"], "memo", "show", talks, memo)
    history = shown["responses"]["Russian Federation"]
    assert [r["number"] for r in history] == [1, 2]
    assert history[0]["covering_text"] == "First answer." and history[0]["stances"]["prisoners"]["stance"] == "accept"
    assert history[1]["replaces"] == history[0]["at"]
    human = ok("--home", session["ua"], "memo", "show", talks, memo)
    assert "official response 1 of 2 (replaced)" in human and "First answer." in human


def test_positions_table_shows_every_partys_stance(session):
    """Run alone too: the Russian Federation's stance is given here, not left to an earlier test."""
    memo = ok_json("--home", session["ua"], "memo", "list", session["talks"])[0]["memo_id"]
    ok("--home", session["ru"], "memo", "respond", session["talks"], memo, "--stance", "ceasefire=reject", "--yes")
    out = ok("--home", session["ua"], "status", session["talks"])
    assert "stance: reject" in out


def test_issue_status_is_one_and_the_same_in_every_output(session):
    status = ok_json("--home", session["ua"], "status", session["talks"])
    by_list = {i["issue_id"]: i["status"] for i in status["issues"]}
    by_matrix = {row["issue_id"]: row["status"] for row in status["positions_matrix"]["issues"]}
    assert by_list == by_matrix


@pytest.mark.parametrize(("options", "message"), [
    (["--start", "2030-06-02T10:00", "--end", "2030-06-02T12:00", "--timezone", "Istanbul"], "unknown time zone"),
    (["--start", "2020-06-02T10:00", "--end", "2020-06-02T12:00", "--timezone", "Europe/Istanbul"], "in the past"),
    (["--start", "2030-06-02", "--end", "2030-06-03", "--timezone", "Europe/Istanbul"], "give a time too"),
    (["--start", "next tuesday", "--end", "2030-06-03T10:00"], "cannot read"),
])
def test_bad_meeting_times_are_refused_and_change_nothing(session, options, message):
    before = log_size(session)
    code, _, err = run("--home", session["ru"], "meeting", "propose", session["talks"], "--venue", "Istanbul",
                       "--to", "Ukraine", *options)
    assert code == 2 and message in err, err
    assert log_size(session) == before


def test_meeting_in_venue_time_shows_venue_time_and_utc(session):
    meeting = ok("--home", session["ru"], "meeting", "propose", session["talks"], "--venue", "Istanbul",
                 "--start", "2030-06-02T10:00", "--end", "2030-06-02T13:00", "--timezone", "Europe/Istanbul",
                 "--to", "Ukraine").strip()
    listed = ok_json("--home", session["ua"], "meeting", "list", session["talks"])
    found = next(m for m in listed if m["meeting_id"] == meeting)
    assert found["start"] == "2030-06-02T07:00:00Z" and found["timezone"] == "Europe/Istanbul"
    human = ok("--home", session["ua"], "meeting", "list", session["talks"])
    assert meeting in human and "10:00" in human and "07:00" in human


def test_respond_by_a_date_means_the_end_of_that_day(session):
    memo = ok("--home", session["ua"], "memo", "deliver", session["talks"], "--to", "Russian Federation", "--title",
              "Deadline", "--position", "ceasefire=x", "--respond-by", "2030-01-15", "--timezone",
              "Europe/Kyiv").strip()
    shown = ok_json("--home", session["ru"], "memo", "show", session["talks"], memo)
    assert shown["respond_by"] == "2030-01-15T21:59:59Z"
    code, _, err = run("--home", session["ua"], "memo", "deliver", session["talks"], "--to", "Russian Federation",
                       "--title", "Late", "--position", "ceasefire=x", "--respond-by", "2001-01-01")
    assert code == 2 and "already past" in err


def test_signing_shows_the_text_and_its_digest_and_asks(session):
    talks, ua, ru = session["talks"], session["ua"], session["ru"]
    ok("--home", ua, "agreement", "text", talks, "accord", "--title", "MoU",
       "--article", "Prisoners=All 1234 for all 5678.")
    shown = ok("--home", ru, "agreement", "show", talks, "accord")
    assert "Article 1. Prisoners (no objection)" in shown and "1234" in shown and "5678" in shown  # the text
    digest = ok_json("--home", ua, "agreement", "finalize", talks, "accord")["text_sha256"]
    before = log_size(session)
    code, out, err = run("--home", ua, "agreement", "sign", talks, "accord")
    assert code == 2 and digest in out and "--yes" in err  # shown the text and its digest; refused without --yes
    assert log_size(session) == before
    out = ok("--home", ua, "agreement", "sign", talks, "accord", "--yes")
    assert digest in out and "awaiting signature: Russian Federation, Ukraine" in out
    listed = ok_json("--home", ru, "agreement", "list", talks)
    assert [(a["agreement_id"], a["signed_by"]) for a in listed] == [("accord", ["Ukraine"])]


def test_fingerprint_of_own_party_needs_no_passphrase(session, monkeypatch):
    monkeypatch.delenv("PARLEY_PASSPHRASE")
    out = ok("--home", session["ua"], "party", "fingerprint", "--digits")
    assert len(out.split()) == 6
    out = ok("--home", session["ua"], "party", "fingerprint", "Russian Federation")
    assert out.startswith("Russian Federation: ")


def test_fingerprint_of_an_unpinned_party_says_why_it_needs_the_key(session, monkeypatch):
    # The relay's directory answers enrolled devices only: the person is told why an unlock is asked.
    monkeypatch.delenv("PARLEY_PASSPHRASE")
    code, _, err = run("--home", session["ua"], "party", "fingerprint", "Atlantis")
    assert code == 2 and "'Atlantis' is not pinned" in err and "device key" in err and "PARLEY_PASSPHRASE" in err


def test_weak_passphrase_is_refused_before_anything_is_created(session, monkeypatch):
    monkeypatch.setenv("PARLEY_PASSPHRASE", "x")
    token = ok_json("relay", "invite-party", "Weak", *session["data"])["token"]
    home = session["tmp"] / "weak"
    code, _, err = run("--home", str(home), "party", "create", "Weak", "--relay", session["relay"].url,
                       "--token", token)
    assert code == 2 and "too weak" in err and "12 characters" in err
    assert not home.exists()
    monkeypatch.setenv("PARLEY_PASSPHRASE", STRONG)
    ok("--home", str(home), "party", "create", "Weak", "--relay", session["relay"].url, "--token", token)


def test_add_member_never_reuses_the_administrators_passphrase(session, monkeypatch):
    out_dir = session["tmp"] / "delegate"
    code, _, err = run("--home", session["ua"], "party", "add-member", "--name", "Delegate", "--out", str(out_dir))
    assert code == 2 and "PARLEY_NEW_MEMBER_PASSPHRASE" in err
    assert not out_dir.exists()
    monkeypatch.setenv("PARLEY_NEW_MEMBER_PASSPHRASE", "another strong passphrase")
    ok("--home", session["ua"], "party", "add-member", "--name", "Delegate", "--out", str(out_dir))
    code, _, err = run("--home", str(out_dir), "negotiation", "list")  # the administrator's does not open it
    assert code == 5
    monkeypatch.setenv("PARLEY_PASSPHRASE", "another strong passphrase")
    ok("--home", str(out_dir), "negotiation", "list")
