"""Browser notifications of what awaits the member's party, told once, with no title or text in them."""

from __future__ import annotations

import json

import pytest

from parley.client.workflow import Negotiation

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

#: the page's Notification, recorded instead of shown (headless Chromium has no notification centre)
NOTIFICATION_SPY = """
(() => {
  const shown = [];
  class RecordedNotification {
    constructor(title, options) { shown.push({ title, body: options.body, tag: options.tag }); }
    static get permission() { return "granted"; }
    static requestPermission() { return Promise.resolve("granted"); }
  }
  window.Notification = RecordedNotification;
  window.__shown = shown;
})();
"""


def test_memorandum_awaiting_a_response_is_notified_once_without_its_title(talks, browser):  # noqa: ANN001
    title = "Memorandum of Ukraine on the exchange of prisoners"
    memo = Negotiation(talks.ukraine, talks.nid).deliver_memorandum(
        title, {"prisoners": "All for all."}, [talks.russia.profile.party.party_id])
    context = browser.new_context()
    context.add_init_script(NOTIFICATION_SPY)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(talks.ui["russia"].login_url())
        expect(page.locator("#awaiting-you")).to_have_text("1 act awaits your party", timeout=10_000)
        page.wait_for_function("window.__shown.length === 1")
        shown = page.evaluate("window.__shown")
        assert shown[0]["body"] == "An official response is awaited from your party"
        assert shown[0]["tag"].startswith(f"{talks.nid}:official response:{memo}")
        listed = page.evaluate("fetch('/awaiting.json').then(r => r.text())")
        assert title not in listed and "prisoners" not in listed.lower()
        assert json.loads(listed)[0]["href"] == f"/n/{talks.nid}/memoranda/{memo}"

        page.reload()  # told once per browser session, however often the page loads
        expect(page.locator("#awaiting-you")).to_have_text("1 act awaits your party")
        assert page.evaluate("window.__shown.length") == 0  # a new page: the spy starts empty, nothing told again

        Negotiation(talks.russia, talks.nid).respond(memo, {"prisoners": {"stance": "accept"}})
        expect(page.locator("#awaiting-you")).to_be_hidden(timeout=10_000)
    finally:
        context.close()
