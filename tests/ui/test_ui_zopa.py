"""The deal-zone page in headless Debian Chromium: two heads run a check with a split point."""

from __future__ import annotations

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

LIVE = 10_000


def open_(page, server, path: str) -> None:  # noqa: ANN001
    page.goto(server.base + path)
    expect(page.locator("#live-state")).to_contain_text("Live", timeout=LIVE)


def _continue(page, server, path: str) -> None:  # noqa: ANN001
    open_(page, server, path)
    page.get_by_role("button", name="Continue the check").click()
    expect(page.locator(".flash-ok")).to_contain_text("The check is now")


def test_two_heads_find_a_deal_zone_and_its_midpoint_without_seeing_each_others_limit(talks, pages, console):
    ua, ru = pages["ukraine"], pages["russia"]
    path = f"/n/{talks.nid}/zopa"
    open_(ua, talks.ui["ukraine"], path)
    expect(ua.locator("#zopa-checks")).to_contain_text("No check yet")
    ua.get_by_label("Issue").select_option(label="Prisoners of war")
    ua.get_by_label("Russian Federation").check()
    ua.get_by_label("Offer the midpoint if the ranges meet (two parties only)").check()
    ua.get_by_role("button", name="Open check").click()
    expect(ua.locator(".flash-ok")).to_contain_text("opened")
    ua.get_by_label("Your reservation value (whole number; never leaves this computer)").fill("400")
    ua.get_by_label("You accept any outcome").select_option("at-least")
    ua.get_by_label("Agree to learn and disclose the midpoint", exact=False).check()
    ua.get_by_role("button", name="Commit (your one try on this issue this round)").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Committed")

    open_(ru, talks.ui["russia"], path)
    ru.get_by_label("Your reservation value (whole number; never leaves this computer)").fill("601")
    ru.get_by_label("You accept any outcome").select_option("at-most")
    ru.get_by_label("Agree to learn and disclose the midpoint", exact=False).check()
    ru.get_by_role("button", name="Commit (your one try on this issue this round)").click()
    expect(ru.locator(".flash-ok")).to_contain_text("Committed")

    _continue(ua, talks.ui["ukraine"], path)   # Ukraine reveals: both know the ranges meet
    _continue(ru, talks.ui["russia"], path)    # Russia unmasks the split sum
    _continue(ua, talks.ui["ukraine"], path)   # Ukraine posts the midpoint
    for page, server in ((ua, talks.ui["ukraine"]), (ru, talks.ui["russia"])):
        open_(page, server, path)
        expect(page.locator(".zopa-outcome")).to_contain_text("The ranges meet")
        expect(page.locator(".zopa-midpoint")).to_have_text("500.5")
    assert "601" not in ua.locator("main").inner_text() and "400" not in ru.locator("main").inner_text()
    assert console.errors == []
