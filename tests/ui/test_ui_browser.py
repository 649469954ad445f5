"""The UI in headless Debian Chromium: two members' UIs on one relay, live updates between them.

The tests run in order on one module-wide negotiation (memorandum, response, meeting,
channel, agreement), then tamper with the relay's database last.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile

import pytest

from parley.crypto.canonical import canonical_bytes
from parley.store.codec import unpack_header
from parley.tracing import unmark

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

LIVE = 10_000  # ms: live updates arrive within a second or two


def open_(page, server, path: str) -> None:  # noqa: ANN001
    page.goto(server.base + path)
    expect(page.locator("#live-state")).to_contain_text("Live", timeout=LIVE)


def test_memorandum_delivered_from_one_ui_arrives_live_in_the_other(talks, pages, console):
    ua, ru = pages["ukraine"], pages["russia"]
    n = f"/n/{talks.nid}"
    open_(ru, talks.ui["russia"], n + "/memoranda")
    expect(ru.locator("#memo-list")).to_contain_text("No memorandum delivered yet")
    open_(ua, talks.ui["ukraine"], n + "/memoranda")
    ua.get_by_label("Title").first.fill("Memorandum of Ukraine on the key issues")
    ua.get_by_label("Position on “Ceasefire”").fill("A full and unconditional ceasefire for thirty days.")
    ua.get_by_label("Position on “Prisoners of war”").fill("An exchange of all prisoners of war, all for all.")
    ua.get_by_role("button", name="Deliver memorandum").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Memorandum delivered")
    # Russia's page was not reloaded: the memorandum arrives over SSE + htmx.
    expect(ru.locator("#memo-list")).to_contain_text("Memorandum of Ukraine on the key issues", timeout=LIVE)
    ru.get_by_role("link", name="Memorandum of Ukraine on the key issues").click()
    expect(ru.locator(".copyline")).to_contain_text("CONFIDENTIAL — copy for Head of delegation (Moscow), Russian Federation")
    # each recipient's copy is invisibly marked for leak tracing: compare the un-marked text
    assert "unconditional ceasefire" in unmark(ru.locator("article.document .position-block").first.inner_text())
    assert console.errors == []


def test_official_response_updates_the_sender_live(talks, pages, console):
    ua, ru = pages["ukraine"], pages["russia"]
    open_(ua, talks.ui["ukraine"], f"/n/{talks.nid}")
    expect(ua.locator("#awaiting")).to_contain_text("Russian Federation")
    ru.get_by_label("Stance").first.select_option("accept")
    ru.get_by_label("Stance").nth(1).select_option("counter")
    ru.get_by_label("Counter-proposal or note (needed for a counter-proposal)").nth(1).fill(
        "Exchanges in stages of a thousand.")
    ru.get_by_label("Covering text").fill("Official response of the Russian Federation.")
    ru.get_by_role("button", name="Give the official response").click()
    expect(ru.locator(".flash-ok")).to_contain_text("Official response given")
    expect(ru.locator("#memo-status")).to_contain_text("Counter-proposal")
    expect(ua.locator("#awaiting")).to_contain_text("Nothing awaits an official response", timeout=LIVE)
    expect(ua.locator("#matrix")).to_contain_text("Accept", timeout=LIVE)
    expect(ua.locator("#matrix")).to_contain_text("Exchanges in stages")
    assert console.errors == []


def test_second_official_response_asks_and_keeps_the_first_in_view(talks, pages, console):
    ru = pages["russia"]  # still on the memorandum it answered
    ru.get_by_label("Stance").first.select_option("accept")
    ru.get_by_label("Stance").nth(1).select_option("counter")
    ru.get_by_label("Counter-proposal or note (needed for a counter-proposal)").nth(1).fill(
        "Exchanges in stages of a thousand.")
    ru.get_by_label("Covering text").fill("The same stances, with a second covering note.")
    replace = ru.get_by_label("I give a new official response that replaces response 1")
    expect(replace).to_be_visible()  # the form says what it replaces, and will not post until ticked
    replace.check()
    ru.get_by_role("button", name="Give the official response").click()
    expect(ru.locator(".flash-ok")).to_contain_text("Official response given")
    status = ru.locator("#memo-status")
    expect(status).to_contain_text("Response 2 of 2 (current)")
    expect(status).to_contain_text("Response 1 (replaced)")
    ru.locator("details.response-earlier summary").first.click()
    expect(status).to_contain_text("Official response of the Russian Federation.")  # the first covering text
    assert console.errors == []


def test_meeting_proposed_and_accepted_with_ics(talks, pages, console):
    ua, ru = pages["ukraine"], pages["russia"]
    n = f"/n/{talks.nid}/meetings"
    open_(ru, talks.ui["russia"], n)
    open_(ua, talks.ui["ukraine"], n)
    ua.get_by_label("Venue", exact=True).fill("Istanbul, Çırağan Palace")
    ua.locator("#start").fill("2030-06-02T07:00")
    ua.locator("#end").fill("2030-06-02T15:00")
    ua.get_by_label("Time zone of the venue").fill("Europe/Istanbul")
    ua.get_by_role("button", name="Propose the meeting").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Meeting proposed")
    expect(ru.locator("#calendar")).to_contain_text("Istanbul, Çırağan Palace", timeout=LIVE)
    expect(ru.locator("#calendar [data-status]")).to_have_text("awaiting answer")
    ru.get_by_label("Note (optional)").fill("The Russian delegation will attend.")
    ru.get_by_role("button", name="Send answer").click()
    expect(ru.locator(".flash-ok")).to_contain_text("Answer sent")
    expect(ua.locator("#calendar [data-status]")).to_have_text("accepted", timeout=LIVE)
    with ua.expect_download() as download_info:
        ua.get_by_role("link", name="Download calendar file (.ics)").click()
    ics = open(download_info.value.path(), encoding="utf-8").read()
    assert "BEGIN:VCALENDAR" in ics and "Istanbul" in ics and "CLASS:CONFIDENTIAL" in ics
    assert console.errors == []


def test_meeting_answer_deadline_then_counter_proposal_in_the_browser(talks, pages, console):
    from datetime import UTC, datetime, timedelta

    ua, ru = pages["ukraine"], pages["russia"]
    n = f"/n/{talks.nid}"
    open_(ua, talks.ui["ukraine"], n)
    open_(ru, talks.ui["russia"], n + "/meetings")
    soon = (datetime.now(UTC) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    ru.get_by_label("Venue", exact=True).last.fill("Vatican City, Apostolic Palace")
    ru.locator("#start").fill("2030-07-01T08:00")
    ru.locator("#end").fill("2030-07-01T16:00")
    ru.get_by_label("Answers due by (UTC, optional)").fill(soon)
    ru.get_by_role("button", name="Propose the meeting").click()
    expect(ru.locator(".flash-ok")).to_contain_text("Meeting proposed")
    # Ukraine's overview was not reloaded: the reminder arrives live, due soon.
    deadline = ua.locator("#deadlines tr.deadline", has_text="Vatican City")
    expect(deadline).to_have_attribute("data-state", "due soon", timeout=LIVE)
    expect(deadline).to_contain_text("Ukraine (your party)")
    # Three days later on Ukraine's clock the same reminder is overdue.
    real_clock = talks.ukraine.clock
    talks.ukraine.clock = lambda: datetime.now(UTC) + timedelta(days=3)
    try:
        ua.reload()
        expect(ua.locator("#deadlines tr.deadline", has_text="Vatican City")).to_have_attribute("data-state", "overdue")
    finally:
        talks.ukraine.clock = real_clock
    # A bad counter-proposal gets the proposal's own error; a good one reaches Moscow.
    open_(ua, talks.ui["ukraine"], n + "/meetings")
    card = ua.locator("li.card", has_text="Vatican City")
    card.get_by_label("Counter-proposal", exact=True).check()
    card.locator("summary", has_text="Counter-proposal details").click()
    card.locator("input[name=counter_venue]").fill("Geneva, Palais des Nations")
    card.locator("input[name=counter_start]").fill("2030-07-02T08:00")
    card.locator("input[name=counter_end]").fill("2030-07-02T16:00")
    card.locator("input[name=counter_timezone]").fill("Europe/Geneva-Lakeside")
    card.get_by_role("button", name="Send answer").click()
    expect(ua.locator(".flash-error")).to_contain_text("unknown time zone")
    card = ua.locator("li.card", has_text="Vatican City")
    card.get_by_label("Counter-proposal", exact=True).check()
    card.locator("summary", has_text="Counter-proposal details").click()
    card.locator("input[name=counter_venue]").fill("Geneva, Palais des Nations")
    card.locator("input[name=counter_start]").fill("2030-07-02T08:00")
    card.locator("input[name=counter_end]").fill("2030-07-02T16:00")
    card.locator("input[name=counter_timezone]").fill("Europe/Zurich")
    card.get_by_role("button", name="Send answer").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Answer sent")
    moscow_card = ru.locator("li.card", has_text="Vatican City")
    expect(moscow_card.locator(".counter")).to_contain_text("Geneva, Palais des Nations", timeout=LIVE)
    expect(moscow_card.locator(".counter")).to_contain_text("Europe/Zurich")
    expect(moscow_card.locator("[data-status]")).to_have_text("countered")
    assert console.errors == []


def test_round_opened_at_a_meeting_holds_what_happens_in_it(talks, pages, console):
    ua, ru = pages["ukraine"], pages["russia"]
    n = f"/n/{talks.nid}"
    open_(ru, talks.ui["russia"], n + "/rounds")
    expect(ru.locator("#round-list")).to_contain_text("No round opened yet")
    open_(ua, talks.ui["ukraine"], n + "/rounds")
    ua.get_by_label("Held at the meeting (optional; gives venue and dates)").select_option(
        label=ua.locator("#round-meeting option", has_text="Istanbul").first.inner_text())
    ua.get_by_label("Ceasefire").check()
    ua.get_by_role("button", name="Open the round").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Round opened")
    # Moscow's page was not reloaded: the round arrives live, current and open.
    card = ru.locator("#round-list .round", has_text="Round 1")
    expect(card).to_contain_text("Istanbul, Çırağan Palace", timeout=LIVE)
    expect(card.locator("[data-status]")).to_have_text("open")
    expect(card).to_contain_text("current")
    # Ukraine links the memorandum delivered before the round; Moscow answers a meeting in the round.
    ua.get_by_role("link", name="Round 1 — Istanbul, Çırağan Palace").click()
    expect(ua.locator("#round-facts")).to_contain_text("Ceasefire")
    ua.get_by_label("Memorandum or meeting").select_option(label="Memorandum: Memorandum of Ukraine on the key issues")
    ua.get_by_role("button", name="Link").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Linked to the round")
    open_(ru, talks.ui["russia"], n + "/rounds/round-1")
    expect(ru.locator("#round-held tr.held[data-kind=memorandum]")).to_contain_text("linked", timeout=LIVE)
    open_(ua, talks.ui["ukraine"], n)
    expect(ua.locator("#current-round")).to_contain_text("Round 1")
    open_(ru, talks.ui["russia"], n + "/rounds/round-1")
    ru.get_by_label("Outcome").fill("Exchange of prisoners agreed; ceasefire to be discussed in round 2.")
    ru.get_by_role("button", name="Close round 1").click()
    expect(ru.locator(".flash-ok")).to_contain_text("Round closed")
    expect(ru.locator("#round-facts [data-status]")).to_have_text("closed")
    open_(ua, talks.ui["ukraine"], n + "/rounds")
    expect(ua.locator("#round-list .round", has_text="Round 1")).to_contain_text("Exchange of prisoners agreed")
    expect(ua.locator("#round-list .round [data-status]")).to_have_text("closed")
    assert console.errors == []


def test_draft_delivered_under_its_id_and_redlined_against_it(talks, pages, console):
    ua, ru = pages["ukraine"], pages["russia"]
    n = f"/n/{talks.nid}/memoranda"
    open_(ru, talks.ui["russia"], n)
    open_(ua, talks.ui["ukraine"], n)
    ua.get_by_label("Title").first.fill("Second memorandum of Ukraine")
    ua.get_by_label("Position on “Ceasefire”").fill("A ceasefire for sixty days.")
    ua.get_by_role("button", name="Save draft for my party").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Draft saved")
    draft = ua.locator("#memo-list li.draft", has_text="Second memorandum of Ukraine")
    memo_id = draft.get_attribute("data-draft")
    # Moscow's page has no trace of the draft.
    ru.reload()
    expect(ru.locator("#memo-list")).not_to_contain_text("Second memorandum of Ukraine")
    from parley.client.workflow import Negotiation

    with talks.ui["ukraine"].app.state.ui.lock:  # the UI's own client: not while its live loop syncs it
        Negotiation(talks.ukraine, talks.nid).draft_memorandum(
            "Second memorandum of Ukraine", {"ceasefire": "A ceasefire for forty-five days."}, memo_id=memo_id)
    ua.reload()
    ua.get_by_role("button", name="Deliver draft 2 to Russian Federation").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Draft delivered")
    assert ua.url.endswith(f"/memoranda/{memo_id}")  # the delivered memorandum keeps the draft's id
    expect(ua.locator(".lineage")).to_contain_text("Version 1 was delivered from draft 2")
    ua.get_by_label("Compare").select_option("d1")
    ua.get_by_label("with", exact=True).select_option("1")
    ua.get_by_role("button", name="Show redline").click()
    expect(ua.locator(".redline del")).to_contain_text("sixty")
    expect(ua.locator(".redline ins")).to_contain_text("forty-five")
    expect(ru.locator("#memo-list")).to_contain_text("Second memorandum of Ukraine", timeout=LIVE)
    ru.get_by_role("link", name="Second memorandum of Ukraine").click()
    expect(ru.locator("body")).not_to_contain_text("draft")
    assert console.errors == []


def test_channel_chat_is_live_both_ways(talks, pages, console):
    ua, ru = pages["ukraine"], pages["russia"]
    n = f"/n/{talks.nid}/channels"
    open_(ru, talks.ui["russia"], n)
    open_(ua, talks.ui["ukraine"], n)
    ua.get_by_text("Open a channel").click()
    ua.get_by_label("Name", exact=True).fill("Kyiv–Moscow line")
    ua.get_by_label("Russian Federation").check()
    ua.get_by_role("button", name="Open channel").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Channel opened")
    expect(ru.locator("#channel-list")).to_contain_text("Kyiv–Moscow line", timeout=LIVE)
    ru.get_by_role("link", name="Kyiv–Moscow line").click()
    expect(ru.locator("#live-state")).to_contain_text("Live", timeout=LIVE)
    ua.get_by_role("link", name="Kyiv–Moscow line").click()
    expect(ua.locator("#live-state")).to_contain_text("Live", timeout=LIVE)
    ua.get_by_label("Message", exact=True).fill("Kyiv proposes a call at noon.")
    ua.get_by_role("button", name="Send").click()
    expect(ru.locator("#chat")).to_contain_text("Kyiv proposes a call at noon.", timeout=LIVE)
    ru.get_by_label("Message", exact=True).fill("Moscow agrees: noon.")
    ru.keyboard.press("Tab")  # keyboard only: Tab to the Send button, Enter
    ru.keyboard.press("Enter")
    expect(ua.locator("#chat")).to_contain_text("Moscow agrees: noon.", timeout=LIVE)
    assert console.errors == []


def test_sign_release_publish_and_bundle(talks, pages, console):
    ua, ru = pages["ukraine"], pages["russia"]
    n = f"/n/{talks.nid}/agreement"
    open_(ru, talks.ui["russia"], n)
    open_(ua, talks.ui["ukraine"], n)
    ua.get_by_label("Agreement id (a-z, 0-9, '-')").fill("istanbul-memorandum")
    ua.get_by_label("Title", exact=True).fill("Istanbul Memorandum of Understanding")
    ua.get_by_label("Articles: each starts with a line “## Heading”, followed by its text").fill(
        "## Ceasefire\nThe parties observe a ceasefire for thirty days.\n\n"
        "## Prisoners of war\nThe parties exchange all prisoners of war within sixty days.")
    ua.get_by_role("button", name="Post the text").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Version 1 of the text posted")
    expect(ru.locator("#agreement-list")).to_contain_text("Istanbul Memorandum of Understanding", timeout=LIVE)
    ua.get_by_role("button", name="Finalize version 1").click()
    expect(ua.locator(".flash-ok")).to_contain_text("The text is finalized")
    expect(ua.locator("#seal [data-state]")).to_have_text("sealed")
    ua.get_by_role("button", name="Sign for Ukraine").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Signed for your party")
    ru.get_by_role("link", name="Istanbul Memorandum of Understanding").click()
    expect(ru.locator(".copyline")).to_contain_text("copy for Head of delegation (Moscow)")
    expect(ru.locator("#seal [data-state]")).to_have_text("sealed")
    ru.get_by_role("button", name="Sign for Russian Federation").click()
    expect(ru.locator("#seal [data-state]")).to_contain_text("signed, sealed until every party consents")
    expect(ua.locator("#seal [data-state]")).to_contain_text("signed, sealed until", timeout=LIVE)
    ru.get_by_role("button", name="Consent to release").click()
    expect(ru.locator(".flash-ok")).to_contain_text("consents to release")
    ua.reload()
    ua.get_by_role("button", name="Consent to release").click()
    expect(ua.locator("#seal [data-state]")).to_have_text("released")
    expect(ru.locator("#seal [data-state]")).to_have_text("released", timeout=LIVE)
    ua.get_by_role("button", name="Publish the released text").click()
    expect(ua.locator(".flash-ok")).to_contain_text("published")
    with ua.expect_download() as download_info:
        ua.get_by_role("link", name="Download the publication bundle (.zip)").click()
    with zipfile.ZipFile(download_info.value.path()) as archive:
        names = archive.namelist()
    assert any(name.endswith("agreement.txt") for name in names), names
    assert console.errors == []


def test_agreement_in_three_languages_side_by_side_with_objection_per_language(talks, pages, console):
    from parley.client.agreement import AgreementDesk
    from parley.client.workflow import Negotiation
    from parley.demo import AGREEMENT_ARTICLES, AGREEMENT_TITLE, AGREEMENT_TRANSLATIONS

    ru = pages["russia"]
    with talks.ui["ukraine"].app.state.ui.lock:  # the UI's own client: not while its live loop syncs it
        AgreementDesk(Negotiation(talks.ukraine, talks.nid)).post_text(
            "trilingual", AGREEMENT_TITLE, AGREEMENT_ARTICLES, language="en", translations=AGREEMENT_TRANSLATIONS)
    open_(ru, talks.ui["russia"], f"/n/{talks.nid}/agreement")
    link = ru.locator(f'a[href="/n/{talks.nid}/agreement/trilingual"]')
    expect(link).to_have_count(1, timeout=LIVE)  # arrives live
    link.click()
    expect(ru.locator(".authenticity")).to_contain_text("each text equally authentic")
    first = ru.locator("section.article").first
    expect(first.locator(".parallel-text")).to_have_count(3)
    expect(first.locator(".parallel-text[lang=uk]")).to_contain_text("Сторони дотримуються припинення вогню")
    expect(first.locator(".parallel-text[lang=ru]")).to_contain_text("Стороны соблюдают прекращение огня")
    expect(first.locator(".parallel-text[lang=en]")).to_contain_text("ceasefire")
    ru.locator("#article").select_option("1")
    ru.locator("#objection-language").select_option("ru")
    ru.locator("#objection-text").fill("«С момента подписания» должно быть «со дня подписания».")
    ru.get_by_role("button", name="Record").click()
    expect(ru.locator(".flash-ok")).to_be_visible()
    first = ru.locator("section.article").first
    expect(first.locator(".parallel-text[lang=ru] .badge-danger")).to_contain_text("objected by Russian Federation")
    expect(first.locator(".parallel-text[lang=uk] .badge-danger")).to_have_count(0)
    expect(first.locator(".objection")).to_contain_text("Русский text")
    assert console.errors == []


PAGES = ("", "/rounds", "/rounds/round-1", "/memoranda", "/meetings", "/channels", "/agreement",
         "/agreement/trilingual", "/audit", "/trust")


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_loads_without_console_errors_and_fits(talks, pages, console, width):
    for key, page in pages.items():
        page.set_viewport_size({"width": width, "height": 900})
        server = talks.ui[key]
        paths = ["/"] + [f"/n/{talks.nid}{p}" for p in PAGES]
        for path in paths:
            open_(page, server, path)
            expect(page.locator("h1").first).to_be_visible()
            broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                                   ".map(i => i.src)")
            assert broken == [], f"{path}: images that do not render: {broken}"
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{path} overflows horizontally by {overflow}px at {width}px"
    for page in pages.values():
        page.set_viewport_size({"width": 1280, "height": 900})
    assert console.errors == [], console.errors


def test_keyboard_skip_link_and_labels(talks, pages):
    page = pages["ukraine"]
    open_(page, talks.ui["ukraine"], f"/n/{talks.nid}/meetings")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.name)""")
    assert unlabeled == []


def test_live_indicator_follows_the_relays_real_state(talks, pages, console, monkeypatch):
    import httpx

    ua = pages["ukraine"]
    open_(ua, talks.ui["ukraine"], f"/n/{talks.nid}")

    def relay_down(request):  # noqa: ANN001, ANN202 - the relay stops answering
        raise httpx.ConnectError("connection refused", request=request)

    with monkeypatch.context() as patch:
        patch.setattr(talks.transport, "handle_request", relay_down)
        expect(ua.locator("#live-state")).to_contain_text("Offline", timeout=LIVE)
        expect(ua.locator("#alerts")).to_contain_text("The relay is not answering", timeout=LIVE)
    expect(ua.locator("#live-state")).to_contain_text("Live", timeout=LIVE)


def test_tampered_log_shows_the_warning_banner(talks, pages, console):
    ru = pages["russia"]
    open_(ru, talks.ui["russia"], f"/n/{talks.nid}/audit")
    expect(ru.locator(".banner-danger")).to_have_count(0)
    db = sqlite3.connect(str(talks.db))
    seq, header = db.execute("SELECT seq, header FROM events JOIN negotiations USING (negotiation_no) "
                             "WHERE negotiation_id=? ORDER BY seq LIMIT 1 OFFSET 3",
                             (talks.nid,)).fetchone()
    rewritten = json.loads(unpack_header(header))
    rewritten["created"] = "2020-01-01T00:00:00Z"  # backdated in place: no longer what its author signed
    db.execute("UPDATE events SET header=? WHERE seq=? AND negotiation_no="
               "(SELECT negotiation_no FROM negotiations WHERE negotiation_id=?)",
               (canonical_bytes(rewritten), seq, talks.nid))
    db.commit()
    db.close()
    ru.get_by_role("button", name="Verify the whole log now").click()
    banner = ru.locator(".banner-danger")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("FAILED verification")
    expect(ru.locator("[data-integrity]")).to_have_attribute("data-integrity", "failed")
    open_(ru, talks.ui["russia"], f"/n/{talks.nid}/channels")
    expect(ru.locator(".banner-danger")).to_be_visible()  # on every page from now on
    assert console.errors == []


def test_login_page_opened_as_a_file_signs_the_browser_in(talks, browser, tmp_path):
    """The ``file://`` page ``parley ui`` opens: its cross-site hop still ends signed in (Strict cookie)."""
    server = talks.ui["russia"]
    login_page = tmp_path / "ui-login.html"
    server.write_login_page(login_page)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(login_page.as_uri())
        page.wait_for_url(server.base + "/")
        expect(page.locator("body")).to_contain_text(talks.nid)
        again = context.new_page()  # the same link a second time: refused
        again.goto(login_page.as_uri())
        expect(again.locator("body")).to_contain_text("Link used, expired or wrong")
    finally:
        context.close()
