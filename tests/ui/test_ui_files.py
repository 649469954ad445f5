"""Files in the web UI, in headless Debian Chromium: several files attached to a channel message with progress,
then a PDF and an image viewed in the page (rendered by the local UI server), under the reader's copy line."""

from __future__ import annotations

import pytest

from parley.client.workflow import Negotiation
from parley.demo_files import map_pdf

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

LIVE = 10_000
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082")


def test_files_attached_by_drop_are_sent_and_viewed_in_the_page(talks, pages, console, tmp_path):
    pdf = map_pdf(tmp_path / "map.pdf")
    png = tmp_path / "dot.png"
    png.write_bytes(PNG)
    with talks.ui["ukraine"].app.state.ui.lock:  # the UI's own client: not while its live loop syncs it
        channel = Negotiation(talks.ukraine, talks.nid).open_channel("Maps", [talks.russia.profile.party.party_id])
    ua, ru = pages["ukraine"], pages["russia"]
    ua.goto(f"{talks.ui['ukraine'].base}/n/{talks.nid}/channels/{channel}")
    expect(ua.locator("#live-state")).to_contain_text("Live", timeout=LIVE)
    ua.get_by_label("Message", exact=True).fill("The map and a marker.")
    ua.locator(".file-input").set_input_files([str(pdf), str(png)])
    expect(ua.locator(".upload-done")).to_have_count(2, timeout=LIVE)
    ua.get_by_role("button", name="Send").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Message sent")

    ru.goto(f"{talks.ui['russia'].base}/n/{talks.nid}/channels/{channel}")
    expect(ru.locator("#chat")).to_contain_text("map.pdf", timeout=LIVE)
    ru.get_by_role("link", name="map.pdf").click()
    expect(ru.locator(".copyline")).to_contain_text("copy for Head of delegation (Moscow)")
    page_image = ru.locator("img.file-page").first
    expect(page_image).to_be_visible()
    answer = ru.request.get(talks.ui["russia"].base + page_image.get_attribute("src"))
    assert answer.status == 200 and answer.headers["content-type"] == "image/png", answer.text()[:300]
    ru.wait_for_function("(img) => img.complete && img.naturalWidth > 100", arg=page_image.element_handle(),
                         timeout=LIVE)
    ru.go_back()
    ru.get_by_role("link", name="dot.png").click()
    image = ru.locator("img.file-image")
    expect(image).to_be_visible()
    ru.wait_for_function("(img) => img.complete && img.naturalWidth === 1", arg=image.element_handle(), timeout=LIVE)
    assert not console.errors


def test_an_upload_without_the_csrf_header_is_refused(talks, pages):
    page = pages["ukraine"]
    base = talks.ui["ukraine"].base
    refused = page.request.post(f"{base}/n/{talks.nid}/uploads?name=x.txt", data=b"hello",
                                headers={"Origin": base})
    assert refused.status == 403
    wrong = page.request.post(f"{base}/n/{talks.nid}/uploads?name=x.txt", data=b"hello",
                              headers={"Origin": base, "X-CSRF-Token": "guessed"})
    assert wrong.status == 403


def test_an_upload_over_the_limit_or_cut_short_leaves_nothing(talks, pages, monkeypatch):
    from dataclasses import replace

    page = pages["ukraine"]
    base = talks.ui["ukraine"].base
    page.goto(f"{base}/n/{talks.nid}/search")
    csrf = page.evaluate("() => document.body.getAttribute('data-csrf')")
    monkeypatch.setattr(talks.ukraine, "limits", replace(talks.ukraine.limits, max_attachment_bytes=1000))
    headers = {"Origin": base, "X-CSRF-Token": csrf}
    over = page.request.post(f"{base}/n/{talks.nid}/uploads?name=big.bin", data=b"x" * 1001, headers=headers)
    assert over.status == 413 and "over the limit" in over.json()["error"]
    short = page.request.post(f"{base}/n/{talks.nid}/uploads?name=cut.bin", data=b"x" * 10,
                              headers={**headers, "X-File-Size": "20"})
    assert short.status == 400 and "incomplete" in short.json()["error"]
    uploads = talks.ui["ukraine"].app.state.ui.uploads
    assert [p for p in uploads.folder.rglob("*") if p.is_file()] == []
    ok = page.request.post(f"{base}/n/{talks.nid}/uploads?name=fine.txt", data=b"fine", headers=headers)
    assert ok.status == 200 and ok.json()["size"] == 4
    assert uploads.folder.stat().st_mode & 0o077 == 0  # a private folder


def test_a_memorandum_delivered_with_a_pdf_from_the_ui_shows_the_readers_stamped_copy(talks, pages, tmp_path):
    from parley.demo_files import prisoner_list_pdf

    annex = prisoner_list_pdf(tmp_path / "prisoners.pdf")
    ua, ru = pages["ukraine"], pages["russia"]
    ua.goto(f"{talks.ui['ukraine'].base}/n/{talks.nid}/memoranda")
    expect(ua.locator("#live-state")).to_contain_text("Live", timeout=LIVE)
    ua.get_by_label("Title").first.fill("Memorandum with the list")
    ua.get_by_label("Position on “Prisoners of war”").fill("All for all, as listed in the annex.")
    ua.locator("form[action$='/memoranda/deliver'] .file-input").set_input_files([str(annex)])
    expect(ua.locator(".upload-done")).to_have_count(1, timeout=LIVE)
    ua.get_by_role("button", name="Deliver memorandum").click()
    expect(ua.locator(".flash-ok")).to_contain_text("Memorandum delivered")
    ru.goto(f"{talks.ui['russia'].base}/n/{talks.nid}/memoranda")
    ru.get_by_role("link", name="Memorandum with the list").click()
    ru.get_by_role("link", name="prisoners.pdf").click()
    page_image = ru.locator("img.file-page").first
    ru.wait_for_function("(img) => img.complete && img.naturalWidth > 100", arg=page_image.element_handle(),
                         timeout=LIVE)
    # Russia's copy of the PDF is its own: stamped with its copy line on every page (leak tracing).
    from parley.client.workflow import Negotiation

    with talks.ui["russia"].app.state.ui.lock:
        reader = Negotiation(talks.russia, talks.nid)
        memo = next(m for m in reader.views().memoranda.values() if m.title == "Memorandum with the list")
        (meta,) = memo.attachments
        saved = reader.save_attachment(meta.attachment_id, tmp_path / "ru.pdf")
    from pypdf import PdfReader

    assert "Head of delegation (Moscow)" in PdfReader(saved).pages[0].extract_text()


def test_an_annex_is_listed_on_the_agreement_page_and_opens_in_the_page(talks, pages, tmp_path):
    from parley.client.agreement import AgreementDesk
    from parley.demo_files import map_pdf

    annex = map_pdf(tmp_path / "annex-1-map.pdf")
    with talks.ui["ukraine"].app.state.ui.lock:
        AgreementDesk(Negotiation(talks.ukraine, talks.nid)).post_text(
            "annexed", "Line of contact", [{"heading": "Ceasefire", "text": "Along the line of Annex 1."}],
            annexes=[annex])
    ru = pages["russia"]
    ru.goto(f"{talks.ui['russia'].base}/n/{talks.nid}/agreement")
    expect(ru.locator("#live-state")).to_contain_text("Live", timeout=LIVE)
    link = ru.locator(f'a[href="/n/{talks.nid}/agreement/annexed"]')
    expect(link).to_have_count(1, timeout=LIVE)  # arrives live
    link.click()
    expect(ru.locator(".annexes")).to_contain_text("annex-1-map.pdf")
    ru.get_by_role("link", name="annex-1-map.pdf").click()
    page_image = ru.locator("img.file-page").first
    ru.wait_for_function("(img) => img.complete && img.naturalWidth > 100", arg=page_image.element_handle(),
                         timeout=LIVE)
