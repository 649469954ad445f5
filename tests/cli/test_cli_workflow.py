"""Workflow commands of the CLI, run in process against the in-process relay of the ``world`` fixture.

The command line is parsed and executed as a user types it; only the profile unlocking is replaced by the
world's clients (the keystore path is covered by ``test_cli_end_to_end``).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from cli_runner import run as run_in_process
from parley.cli import agreement as cli_agreement
from parley.cli import workflow as cli_workflow
from parley.client.workflow import Negotiation
from parley.protocol.bodies import MeetingTerms


@pytest.fixture
def cli(world, monkeypatch):
    """``cli(client, *args) -> (exit code, stdout, stderr)``, with ``client`` as the unlocked profile."""
    current = {}
    monkeypatch.setattr(cli_workflow, "open_client", lambda ctx: current["client"])
    monkeypatch.setattr(cli_agreement, "open_client", lambda ctx: current["client"])

    def run(client, *args):
        current["client"] = client
        code, out, err = run_in_process(*args)
        return code, out, " ".join(err.split())  # joined: the console wraps lines

    return run


@pytest.fixture
def pair(world):
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    return ukraine, russia, nid


def _meeting(ukraine, russia, nid):
    return Negotiation(russia, nid).propose_meeting(
        venue="Istanbul", start=_at(10), end=_at(18), timezone="Europe/Istanbul", level="delegation",
        parties=[ukraine.profile.party.party_id])


def _at(hour):
    from datetime import UTC, datetime

    return datetime(2030, 6, 2, hour, tzinfo=UTC)


def test_meeting_counter_proposal_from_the_cli(cli, pair):
    ukraine, russia, nid = pair
    meeting = _meeting(ukraine, russia, nid)
    code, out, err = cli(ukraine, "--json", "meeting", "answer", nid, meeting, "counter", "--venue", "Geneva",
                         "--start", "2030-06-03T08:00:00Z", "--end", "2030-06-03T16:00:00Z",
                         "--timezone", "Europe/Zurich", "--note", "Neutral ground.")
    assert code == 0, err
    assert "seq" in json.loads(out)
    seen = Negotiation(russia, nid).fresh_views().meetings[meeting]
    answer = seen.answers[ukraine.profile.party.party_id]
    assert answer.answer == "counter"
    assert answer.counter == MeetingTerms(venue="Geneva", start="2030-06-03T08:00:00Z", end="2030-06-03T16:00:00Z",
                                          timezone="Europe/Zurich")


@pytest.mark.parametrize(("extra", "message"), [
    ((), "gives --venue, --start and --end"),
    (("--venue", "Geneva", "--start", "2030-06-03T08:00:00Z"), "gives --venue, --start and --end"),
    (("--venue", "Geneva", "--start", "2030-06-03T08:00:00Z", "--end", "2030-06-03T07:00:00Z"),
     "ends before it starts"),
    (("--venue", "Geneva", "--start", "2030-06-03T08:00:00Z", "--end", "2030-06-03T16:00:00Z",
      "--timezone", "Geneva/Lakeside"), "unknown time zone"),
    (("--venue", " ", "--start", "2030-06-03T08:00:00Z", "--end", "2030-06-03T16:00:00Z"), "needs a venue"),
])
def test_bad_counter_proposal_from_the_cli_is_refused_and_posts_nothing(cli, pair, extra, message):
    ukraine, russia, nid = pair
    meeting = _meeting(ukraine, russia, nid)
    code, _, err = cli(ukraine, "meeting", "answer", nid, meeting, "counter", *extra)
    assert code == 2 and message in err
    assert Negotiation(russia, nid).fresh_views().meetings[meeting].answers == {}


def test_counter_terms_with_an_acceptance_are_refused(cli, pair):
    ukraine, russia, nid = pair
    meeting = _meeting(ukraine, russia, nid)
    code, _, err = cli(ukraine, "meeting", "answer", nid, meeting, "accept", "--venue", "Geneva")
    assert code == 2 and "go with the answer 'counter'" in err
    assert Negotiation(russia, nid).fresh_views().meetings[meeting].answers == {}


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_respond_by_in_the_past_is_refused_and_posts_nothing(cli, world, pair):
    ukraine, russia, nid = pair
    Negotiation(ukraine, nid).add_issue("Ceasefire", "ceasefire")
    ukraine.sync(nid)
    before = ukraine.state(nid).size
    code, _, err = cli(ukraine, "memo", "deliver", nid, "--to", "Russian Federation", "--title", "Positions",
                       "--position", "ceasefire=Thirty days.", "--respond-by", _iso(world.clock.now - timedelta(hours=1)))
    assert code == 2 and "respond-by deadline" in err and "already past" in err
    ukraine.sync(nid)
    assert ukraine.state(nid).size == before


def test_meeting_answer_by_in_the_past_is_refused(cli, world, pair):
    ukraine, russia, nid = pair
    start = world.clock.now + timedelta(days=10)
    code, _, err = cli(russia, "meeting", "propose", nid, "--venue", "Istanbul", "--start", _iso(start),
                       "--end", _iso(start + timedelta(hours=8)), "--to", "Ukraine",
                       "--answer-by", _iso(world.clock.now - timedelta(minutes=5)))
    assert code == 2 and "answer-by deadline" in err and "already past" in err


def test_due_lists_every_negotiation_and_turns_overdue_as_the_clock_moves(cli, world, pair):
    ukraine, russia, first = pair
    turkiye = world.party("Türkiye")
    second = world.negotiation(turkiye, russia)
    Negotiation(ukraine, first).add_issue("Ceasefire", "ceasefire")
    now = world.clock.now
    code, _, err = cli(ukraine, "memo", "deliver", first, "--to", "Russian Federation", "--title", "Positions",
                       "--position", "ceasefire=Thirty days.", "--respond-by", _iso(now + timedelta(hours=48)))
    assert code == 0, err
    start = now + timedelta(days=10)
    code, _, err = cli(turkiye, "meeting", "propose", second, "--venue", "Istanbul", "--start", _iso(start),
                       "--end", _iso(start + timedelta(hours=8)), "--to", "Russian Federation",
                       "--answer-by", _iso(now + timedelta(hours=12)))
    assert code == 0, err

    code, out, err = cli(russia, "--json", "due")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["negotiation_id"], r["kind"], r["awaiting"], r["state"], r["awaiting_you"]) for r in rows] == [
        (second, "meeting answer", "Russian Federation", "due soon", True),
        (first, "official response", "Russian Federation", "due", True)]

    # Two days later on the readers' clocks (the relay's request-signature window follows the wall clock,
    # so the relay's stays put; reading posts nothing new).
    later = now + timedelta(hours=49)
    russia.clock = ukraine.clock = lambda: later
    code, out, err = cli(russia, "--json", "due")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["state"] for r in rows] == ["overdue", "overdue"]
    assert [r["hours_left"] for r in rows] == [-37.0, -1.0]
    code, out, _ = cli(russia, "due")
    assert code == 0 and "OVERDUE" in out and "Deadlines" in out
    status = json.loads(cli(ukraine, "--json", "status", first)[1])
    assert [(d["kind"], d["state"]) for d in status["deadlines"]] == [("official response", "overdue")]
    assert json.loads(cli(ukraine, "--json", "due", "--mine")[1]) == []

    russia.clock = ukraine.clock = world.clock
    Negotiation(russia, second).answer_meeting(json.loads(cli(russia, "--json", "due")[1])[0]["ref"], "accept")
    assert [r["kind"] for r in json.loads(cli(russia, "--json", "due")[1])] == ["official response"]


def test_signature_deadline_set_at_finalize(cli, world, pair):
    from parley.client.agreement import AgreementDesk

    ukraine, russia, nid = pair
    desk = AgreementDesk(Negotiation(ukraine, nid))
    desk.post_text("agreement-1", "Memorandum of Istanbul", [{"heading": "Ceasefire", "text": "Thirty days."}])
    past = _iso(world.clock.now - timedelta(hours=1))
    code, _, err = cli(ukraine, "agreement", "finalize", nid, "agreement-1", "--sign-by", past)
    assert code == 2 and "sign-by deadline" in err
    code, _, err = cli(ukraine, "agreement", "finalize", nid, "agreement-1",
                       "--sign-by", _iso(world.clock.now + timedelta(days=2)))
    assert code == 0, err
    rows = json.loads(cli(russia, "--json", "due")[1])
    assert [(r["kind"], r["awaiting"], r["state"]) for r in rows] == [
        ("signature", "Russian Federation", "due"), ("signature", "Ukraine", "due")]
    AgreementDesk(Negotiation(russia, nid)).sign("agreement-1")
    assert [r["awaiting"] for r in json.loads(cli(russia, "--json", "due")[1])] == ["Ukraine"]


def test_round_through_the_cli_holds_its_memoranda_responses_and_meeting(cli, world, pair):
    from parley.client.agreement import AgreementDesk

    ukraine, russia, nid = pair
    Negotiation(ukraine, nid).add_issue("Ceasefire", "ceasefire")
    early = Negotiation(ukraine, nid).deliver_memorandum("Memorandum before the round", {"ceasefire": "Thirty days."},
                                                         to=[russia.profile.party.party_id])
    meeting = _meeting(ukraine, russia, nid)
    code, out, err = cli(russia, "--json", "round", "open", nid, "2", "--meeting", meeting, "--agenda", "ceasefire")
    assert code == 0, err
    round_id = json.loads(out)["round_id"]
    memo = Negotiation(ukraine, nid).deliver_memorandum("Memorandum in the round", {"ceasefire": "Twenty days."},
                                                        to=[russia.profile.party.party_id])
    Negotiation(russia, nid).respond(memo, {"ceasefire": {"stance": "counter", "text": "Ten days."}})
    AgreementDesk(Negotiation(ukraine, nid)).post_text("agreement-1", "Istanbul memorandum",
                                                       [{"heading": "Ceasefire", "text": "Fifteen days."}])
    code, _, err = cli(ukraine, "round", "link", nid, round_id, "--memo", early)
    assert code == 0, err
    status = json.loads(cli(ukraine, "--json", "status", nid)[1])
    current = status["current_round"]
    assert (current["round_id"], current["number"], current["venue"]) == (round_id, 2, "Istanbul")
    assert current["meeting"]["meeting_id"] == meeting and current["starts"] == "2030-06-02T10:00:00Z"
    assert current["agenda"] == [{"issue_id": "ceasefire", "title": "Ceasefire"}]
    code, out, err = cli(ukraine, "round", "close", nid, round_id, "--outcome", "Ceasefire still open.")
    assert code == 0, err
    Negotiation(ukraine, nid).deliver_memorandum("Memorandum after the round", {"ceasefire": "Five days."},
                                                 to=[russia.profile.party.party_id])
    shown = json.loads(cli(russia, "--json", "round", "show", nid, round_id)[1])
    assert (shown["status"], shown["outcome"], shown["closed_by"]) == ("closed", "Ceasefire still open.", "Ukraine")
    assert [(i["kind"], i["title"], i["how"]) for i in shown["items"]] == [
        ("memorandum", "Memorandum in the round", "posted"),
        ("response", "Memorandum in the round", "posted"),
        ("agreement version", "Istanbul memorandum", "posted"),
        ("memorandum", "Memorandum before the round", "linked")]
    assert json.loads(cli(russia, "--json", "status", nid)[1])["current_round"] is None
    code, out, _ = cli(russia, "round", "list", nid)
    assert code == 0 and "Round 2" in out and "Ceasefire still open." in out


@pytest.mark.parametrize(("args", "code", "message"), [
    (("round", "open", "{nid}", "1", "--venue", "Geneva", "--starts", "2030-06-01T08:00:00Z"), 2, "round 1 exists"),
    (("round", "open", "{nid}", "3"), 2, "a round needs a venue"),
    (("round", "open", "{nid}", "3", "--meeting", "meeting-nowhere"), 2, "no meeting 'meeting-nowhere'"),
    (("round", "open", "{nid}", "3", "--venue", "Geneva", "--starts", "2030-06-01T08:00:00Z", "--agenda", "borders"),
     3, "unknown key issue 'borders'"),  # not found (exit 3), like an unknown round or memorandum
    (("round", "close", "{nid}", "round-7", "--outcome", "None."), 3, "no round 'round-7'"),
    (("round", "close", "{nid}", "round-1", "--outcome", "Again."), 2, "closed already"),
    (("round", "link", "{nid}", "round-1", "--memo", "m", "--meeting", "x"), 2, "exactly one of"),
    (("round", "link", "{nid}", "round-1", "--memo", "memo-unknown"), 3, "no memorandum 'memo-unknown'"),
])
def test_bad_round_commands_are_refused_and_post_nothing(cli, pair, args, code, message):
    ukraine, russia, nid = pair
    negotiation = Negotiation(ukraine, nid)
    negotiation.open_round(1, "Istanbul", _at(8))
    negotiation.close_round("round-1", "First contact.")
    ukraine.sync(nid)
    before = ukraine.state(nid).size
    got, _, err = cli(ukraine, *[a.format(nid=nid) for a in args])
    assert got == code and message in err, err
    ukraine.sync(nid)
    assert ukraine.state(nid).size == before


def test_drafts_stay_in_the_party_and_keep_their_id_into_delivery(cli, world, pair):
    ukraine, russia, nid = pair
    delegate = world.member(ukraine, "Delegate (legal)", "delegate")
    delegate.profile.pin(russia.profile.party, verified=True)
    Negotiation(ukraine, nid).add_issue("Ceasefire", "ceasefire")
    Negotiation(ukraine, nid).add_issue("Prisoners", "prisoners")
    code, out, err = cli(delegate, "--json", "memo", "draft", nid, "--title", "Positions of Ukraine",
                         "--position", "ceasefire=A ceasefire for sixty days.")
    assert code == 0, err
    draft = json.loads(out)["memo_id"]
    code, _, err = cli(ukraine, "memo", "draft", nid, "--memo", draft, "--title", "Positions of Ukraine",
                       "--position", "ceasefire=A full ceasefire for thirty days.",
                       "--position", "prisoners=All for all.")
    assert code == 0, err
    # Only Ukraine's members read the drafts; the Russian Federation's client never gets their text.
    assert [d.version for d in Negotiation(delegate, nid).fresh_views().drafts[draft]] == [1, 2]
    assert Negotiation(russia, nid).fresh_views().drafts == {}
    assert all("sixty days" not in str(body) for _, _, body, _ in russia.cache.events(nid))

    code, out, err = cli(ukraine, "--json", "memo", "deliver", nid, "--to", "Russian Federation", "--from-draft", draft)
    assert code == 0, err
    assert json.loads(out)["memo_id"] == draft  # the draft's id carries into the delivered memorandum
    memo = Negotiation(delegate, nid).fresh_views().memoranda[draft]
    assert (memo.version, memo.from_draft) == (1, 2)
    assert Negotiation(russia, nid).fresh_views().memoranda[draft].from_draft is None  # lineage stays inside

    redline = json.loads(cli(ukraine, "--json", "memo", "redline", nid, draft, "d1", "1")[1])["redline"]
    assert "-A ceasefire for sixty days." in redline and "+A full ceasefire for thirty days." in redline
    assert "+All for all." in redline
    assert json.loads(cli(ukraine, "--json", "memo", "redline", nid, draft, "d2", "1")[1])["redline"] == ""
    code, _, err = cli(russia, "memo", "redline", nid, draft, "d1", "1")
    assert code == 3 and "no version d1" in err

    # A second delivered version: the author's redline compares the canonical texts, not its marked copy.
    code, _, err = cli(ukraine, "memo", "deliver", nid, "--to", "Russian Federation", "--memo", draft,
                       "--title", "Positions of Ukraine", "--position", "ceasefire=A full ceasefire for 30 days.",
                       "--position", "prisoners=All for all.")
    assert code == 0, err
    redline = json.loads(cli(ukraine, "--json", "memo", "redline", nid, draft, "1", "2")[1])["redline"]
    assert [line for line in redline.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-A full ceasefire for thirty days.", "+A full ceasefire for 30 days."]


@pytest.mark.parametrize(("args", "message"), [
    (("--from-draft", "memo-nowhere"), "no draft 'memo-nowhere'"),
    (("--from-draft", "{draft}", "--draft-version", "5"), "version 5"),
    (("--from-draft", "{draft}", "--title", "Other"), "as it stands"),
    (("--title", "No positions"), "at least one --position"),
])
def test_bad_deliveries_from_drafts_are_refused(cli, pair, args, message):
    ukraine, russia, nid = pair
    Negotiation(ukraine, nid).add_issue("Ceasefire", "ceasefire")
    draft = Negotiation(ukraine, nid).draft_memorandum("Positions", {"ceasefire": "Thirty days."})
    code, _, err = cli(ukraine, "memo", "deliver", nid, "--to", "Russian Federation",
                       *[a.format(draft=draft) for a in args])
    assert code in (2, 3) and message in err, err
    assert Negotiation(russia, nid).fresh_views().memoranda == {}


def test_agreement_in_three_languages_from_the_cli(cli, pair, tmp_path):
    from parley.demo import AGREEMENT_ARTICLES, AGREEMENT_TITLE, AGREEMENT_TRANSLATIONS

    ukraine, russia, nid = pair
    files = []
    for code, text in AGREEMENT_TRANSLATIONS.items():
        path = tmp_path / f"{code}.json"
        path.write_text(json.dumps(text, ensure_ascii=False), encoding="utf-8")
        files += ["--translation", f"{code}={path}"]
    articles = [arg for a in AGREEMENT_ARTICLES for arg in ("--article", f"{a['heading']}={a['text']}")]
    code, _, err = cli(ukraine, "agreement", "text", nid, "istanbul", "--title", AGREEMENT_TITLE, *articles, *files)
    assert code == 0, err
    version2 = [dict(a) for a in AGREEMENT_TRANSLATIONS["uk"]["articles"]]
    version2[0]["text"] = version2[0]["text"].replace("тридцяти", "сорока п'яти")
    (tmp_path / "uk.json").write_text(json.dumps({"title": AGREEMENT_TRANSLATIONS["uk"]["title"],
                                                  "articles": version2}, ensure_ascii=False), encoding="utf-8")
    code, _, err = cli(ukraine, "agreement", "text", nid, "istanbul", "--title", AGREEMENT_TITLE, *articles, *files,
                       "--prevailing", "en")
    assert code == 0, err
    shown = json.loads(cli(russia, "--json", "agreement", "show", nid, "istanbul")[1])
    assert shown["languages"] == ["en", "uk", "ru"] and shown["prevailing"] == "en"
    assert shown["authenticity"] == "en, uk, ru: en prevails in case of divergence"
    redline = json.loads(cli(russia, "--json", "agreement", "redline", nid, "istanbul", "1", "2",
                             "--language", "uk")[1])["redline"]
    assert "-Сторони дотримуються припинення вогню вздовж усієї лінії зіткнення протягом тридцяти днів" in redline
    assert "+Сторони дотримуються припинення вогню вздовж усієї лінії зіткнення протягом сорока п'яти днів" in redline
    assert json.loads(cli(russia, "--json", "agreement", "redline", nid, "istanbul", "1", "2",
                          "--language", "ru")[1])["redline"] == ""
    code, _, err = cli(russia, "agreement", "object", nid, "istanbul", "--article", "1", "--language", "uk",
                       "--text", "Ukrainian text diverges: forty-five days.")
    assert code == 0, err
    shown = json.loads(cli(ukraine, "--json", "agreement", "show", nid, "istanbul")[1])
    status = {code: shown["articles_by_language"][code][0]["status"] for code in shown["languages"]}
    assert status == {"en": "no objection", "uk": "objected", "ru": "no objection"}
    code, _, err = cli(russia, "agreement", "object", nid, "istanbul", "--article", "1", "--language", "fr",
                       "--text", "x")
    assert code == 2 and "has no fr text" in err
    code, _, err = cli(russia, "agreement", "redline", nid, "istanbul", "1", "2", "--language", "fr")
    assert code == 3 and "no fr text" in err


def test_positions_matrix_in_another_language(cli, pair):
    ukraine, russia, nid = pair
    Negotiation(ukraine, nid).add_issue("Ceasefire", "ceasefire")
    Negotiation(ukraine, nid).deliver_memorandum(
        "Positions", {"ceasefire": "A ceasefire for thirty days."}, to=[russia.profile.party.party_id],
        translations={"uk": {"title": "Позиції", "positions": {"ceasefire": "Припинення вогню на тридцять днів."}}},
        tracing=False)
    english = json.loads(cli(russia, "--json", "status", nid)[1])["positions_matrix"]
    ukrainian = json.loads(cli(russia, "--json", "status", nid, "--language", "uk")[1])["positions_matrix"]
    assert english["issues"][0]["cells"]["Ukraine"]["position"] == "A ceasefire for thirty days."
    assert ukrainian["issues"][0]["cells"]["Ukraine"] == {"position": "Припинення вогню на тридцять днів.",
                                                          "stance": None, "language": "uk"}


def test_author_previews_and_vetoes_wording_variants_before_delivery(cli, world, pair):
    ukraine, russia, nid = pair
    Negotiation(ukraine, nid).add_issue("Ceasefire", "ceasefire")
    ukraine.sync(nid)
    before = ukraine.state(nid).size
    position = "ceasefire=A ceasefire {for|lasting} thirty days, then 5 per cent fewer troops."
    code, out, _ = cli(ukraine, "memo", "deliver", nid, "--to", "Russian Federation", "--title", "Positions",
                       "--position", position, "--preview-variants")
    assert code == 0
    lines = [line for line in out.splitlines() if line.strip()]
    assert [line.split()[1] for line in lines] == ["author", "number", "percent"]
    ukraine.sync(nid)
    assert ukraine.state(nid).size == before  # a preview delivers nothing
    code, _, _ = cli(ukraine, "memo", "deliver", nid, "--to", "Russian Federation", "--title", "Positions",
                     "--position", position, "--no-variant", "2", "--no-variant", "3")
    assert code == 0
    view = Negotiation(russia, nid)
    view.sync()
    (memo,) = view.views().memoranda.values()
    assert "thirty days" in memo.positions["ceasefire"] and "5 per cent" in memo.positions["ceasefire"]
    assert "{" not in memo.positions["ceasefire"]


def test_agreement_annexes_from_the_cli(cli, pair, tmp_path):
    ukraine, russia, nid = pair
    annex = tmp_path / "map.png"
    annex.write_bytes(b"\x89PNG map of the line of contact")
    code, _, err = cli(ukraine, "agreement", "text", nid, "accord", "--title", "Accord",
                       "--article", "Ceasefire=Along the line of Annex 1.", "--annex", str(annex))
    assert code == 0, err
    shown = json.loads(cli(russia, "--json", "agreement", "show", nid, "accord")[1])
    (listed,) = shown["annexes"]
    assert listed["name"] == "map.png" and listed["size"] == annex.stat().st_size
    code, out, err = cli(russia, "agreement", "show", nid, "accord")
    assert f"annex {listed['attachment_id']}: map.png" in out
    code, _, err = cli(russia, "agreement", "annex", nid, listed["attachment_id"], "--out", str(tmp_path / "got.png"))
    assert code == 0, err
    assert (tmp_path / "got.png").read_bytes() == annex.read_bytes()
    code, _, err = cli(ukraine, "agreement", "text", nid, "accord", "--title", "Accord",
                       "--article", "Ceasefire=Along the line.", "--no-annexes")
    assert code == 0, err
    assert json.loads(cli(russia, "--json", "agreement", "show", nid, "accord")[1])["annexes"] == []
    code, _, err = cli(ukraine, "agreement", "text", nid, "accord", "--title", "Accord",
                       "--article", "Ceasefire=x.", "--annex", str(tmp_path / "missing.pdf"))
    assert code == 2 and "not a file" in err


def test_search_from_the_cli(cli, pair, monkeypatch):
    from parley.cli import search as cli_search

    ukraine, russia, nid = pair
    monkeypatch.setattr(cli_search, "open_client", lambda ctx: russia)
    ukraine.send_message(nid, "Prisoners exchanged in March, through Istanbul.")
    russia.sync(nid)
    code, out, err = cli(russia, "--json", "search", nid, "prisoners", "march")
    assert code == 0, err
    (found,) = json.loads(out)
    assert found["kind"] == "message" and found["party"] == "Ukraine" and "[Prisoners]" in found["snippet"]
    code, out, err = cli(russia, "search", nid, "Istanbul")
    assert code == 0 and "message" in out and "Ukraine" in out
    code, _, err = cli(russia, "search", nid, "*")
    assert code == 2 and "at least one word" in err


def test_files_on_a_channel_message_and_a_response_from_the_cli(cli, pair, tmp_path):
    ukraine, russia, nid = pair
    channel = Negotiation(ukraine, nid).open_channel("Line", [russia.profile.party.party_id])
    annex = tmp_path / "list.txt"
    annex.write_text("1. A. Ivanenko\n")
    code, _, err = cli(ukraine, "channel", "send", nid, channel, "The list.", "--attach", str(annex))
    assert code == 0, err
    Negotiation(russia, nid).sync()
    (message,) = Negotiation(russia, nid).views().channels[channel].messages
    (meta,) = message.attachments
    code, out, err = cli(russia, "channel", "list", nid)
    assert f"attachment {meta.attachment_id}: list.txt" in out
    code, _, err = cli(russia, "memo", "attachment", nid, meta.attachment_id, "--out", str(tmp_path / "got.txt"))
    assert code == 0, err
    assert (tmp_path / "got.txt").read_text() == "1. A. Ivanenko\n"
    code, _, err = cli(ukraine, "channel", "send", nid, channel, "x", "--attach", str(tmp_path / "none.pdf"))
    assert code == 2 and "not a file" in err
