"""A reader's copy of a PDF annex carries its image mark: a screenshot of one page, copy line cut off,
traced by the sending party's head from its own records, names that reader and no one else."""

from __future__ import annotations

import pytest

from parley.client.workflow import Negotiation


@pytest.fixture
def talks(world):
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    turkiye = world.party("Türkiye", member="Mediator")
    ru_delegate = world.member(russia, "Delegate", "delegate")
    nid = world.negotiation(turkiye, ukraine, russia)
    for other in (ukraine, russia, turkiye):
        ru_delegate.profile.pin(other.profile.party, verified=True)
    return {"ua": Negotiation(ukraine, nid), "ru": Negotiation(russia, nid), "tr": Negotiation(turkiye, nid),
            "ru_d": Negotiation(ru_delegate, nid)}


def _leaked_screenshot(talks, tmp_path, **options):
    """The delegate's copy of a delivered annex, one page screenshot with the copy lines cut off."""
    from fpdf import FPDF

    from parley.tracing.extract import render_pdf_page
    from parley.tracing.image_attacks import screenshot

    ua, ru, ru_d = talks["ua"], talks["ru"], talks["ru_d"]
    issue = talks["tr"].add_issue("Maps", "maps")
    annex = tmp_path / "annex.pdf"
    pdf = FPDF(unit="pt", format=(298, 420))
    pdf.set_font("helvetica", size=9)
    pdf.add_page()
    pdf.multi_cell(0, 12, "Annex 1: humanitarian corridors. " * 20)
    pdf.output(str(annex))
    memo = ua.deliver_memorandum("With annex", {issue: "See the annexed map."}, to=[ru.party_id("Russian Federation")],
                                 attachments=[annex], **options)
    ru_d.sync()
    (attachment,) = ru_d.views().memoranda[memo].attachments
    copy = ru_d.save_attachment(attachment.attachment_id, tmp_path / "delegate.pdf")
    shot = tmp_path / "shot.png"
    screenshot(render_pdf_page(copy, 0, dpi=100)).save(shot)  # copy lines cut off, rescaled, framed
    return memo, shot


def test_screenshot_of_a_delivered_annex_page_without_its_copy_line_names_its_reader(talks, tmp_path):
    from parley.client.attachments import trace_annex_leak

    ua, ru_d = talks["ua"], talks["ru_d"]
    memo, shot = _leaked_screenshot(talks, tmp_path)
    assert trace_annex_leak(shot, ru_d.tracing_secrets()) is None  # a reader holds no secret to trace with
    traced = trace_annex_leak(shot, ua.tracing_secrets())
    assert traced is not None
    record, report = traced
    assert record.document_id == memo
    (accused,) = report.accused
    assert record.recipients[accused.recipient]["member"] == ru_d.client.profile.member
    assert accused.p_bound < 1e-6


def test_parley_trace_reads_the_annex_mark_of_a_screenshot(talks, tmp_path, monkeypatch):
    import json

    from cli_runner import run
    from parley.cli import audit

    memo, shot = _leaked_screenshot(talks, tmp_path)
    monkeypatch.setattr(audit, "open_client", lambda ctx: talks["ua"].client)
    code, out, err = run("--json", "trace", str(shot))
    assert code == 0, err
    data = json.loads(out)
    assert data["document_id"] == memo
    assert [m["member"] for m in data["accused_members"]] == [talks["ru_d"].client.profile.member]
    assert data["layers"]["image"]["read"] > 200


def test_an_annex_delivered_without_its_image_mark_keeps_the_copy_line_only(talks, tmp_path):
    from pypdf import PdfReader

    from parley.client.attachments import trace_annex_leak

    memo, shot = _leaked_screenshot(talks, tmp_path, annex_marks=False)
    assert trace_annex_leak(shot, talks["ua"].tracing_secrets()) is None
    copy_line = talks["ru_d"].views().memoranda[memo].copy
    assert copy_line in PdfReader(tmp_path / "delegate.pdf").pages[0].extract_text()
