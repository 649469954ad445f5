"""The search box in headless Debian Chromium: results from the local copy, each linking to its item."""

from __future__ import annotations

import pytest

from parley.client.workflow import Negotiation

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

LIVE = 10_000


def test_search_box_finds_a_memorandum_and_a_channel_message_and_links_to_them(talks, pages, console):
    ua = Negotiation(talks.ukraine, talks.nid)
    ru = Negotiation(talks.russia, talks.nid)
    with talks.ui["ukraine"].app.state.ui.lock:  # the UI's own client: not while its live loop syncs it
        memo = ua.deliver_memorandum("Memorandum on the buffer zone", {talks.issues["ceasefire"]:
                                     "A demilitarised strip of fifteen kilometres."},
                                     to=[ua.party_id("Russian Federation")], tracing=False)
    with talks.ui["russia"].app.state.ui.lock:
        channel = ru.open_channel("Quiet line", [ua.own_party])
        ru.channel_message(channel, "The demilitarised strip needs monitors.")
    with talks.ui["ukraine"].app.state.ui.lock:  # the search reads the local copy: have Moscow's message in it
        ua.sync()
    page = pages["ukraine"]
    page.goto(talks.ui["ukraine"].base + f"/n/{talks.nid}")
    expect(page.locator("#live-state")).to_contain_text("Live", timeout=LIVE)
    page.get_by_role("link", name="Search").click()
    page.get_by_label("Words (all must appear; word* for a prefix)").fill("demilitarised strip")
    page.get_by_role("button", name="Search").click()
    results = page.locator(".search-result")
    expect(page.locator("#results-h")).to_contain_text("2 results", timeout=LIVE)
    expect(results.filter(has_text="channel message")).to_contain_text("Russian Federation")
    expect(results.locator("mark, .snippet").first).to_contain_text("[demilitarised]")
    results.filter(has_text="memorandum").get_by_role("link").click()
    expect(page).to_have_url(f"{talks.ui['ukraine'].base}/n/{talks.nid}/memoranda/{memo}")
    assert not console.errors
