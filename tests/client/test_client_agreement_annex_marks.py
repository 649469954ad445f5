"""PDF annexes of agreement drafts reach each reader stamped (copy line and image mark, under the agreement's
tracing key) while the version names the canonical file; finalize hands every party the canonical bytes, which
each client checks against the digests named before signing."""

from __future__ import annotations

import hashlib

import pytest

from parley.client.agreement import AgreementDesk
from parley.client.workflow import Negotiation
from parley.errors import InputError, VerificationError
from parley.protocol.bodies import Annex

ARTICLES = [{"heading": "Corridors", "text": "The corridors are those on the map in Annex 1."}]


@pytest.fixture
def talks(world):
    turkiye = world.party("Türkiye", member="Mediator")
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    ru_delegate = world.member(russia, "Delegate", "delegate")
    nid = world.negotiation(turkiye, ukraine, russia)
    for other in (ukraine, russia, turkiye):
        ru_delegate.profile.pin(other.profile.party, verified=True)
    return {name: AgreementDesk(Negotiation(client, nid)) for name, client in
            (("tr", turkiye), ("ua", ukraine), ("ru", russia), ("ru_d", ru_delegate))}


@pytest.fixture
def annex(tmp_path):
    from fpdf import FPDF

    path = tmp_path / "Annex 1 - corridors.pdf"
    pdf = FPDF(unit="pt", format=(298, 420))
    pdf.set_font("helvetica", size=9)
    pdf.add_page()
    pdf.multi_cell(0, 12, "Annex 1: humanitarian corridors. " * 20)
    pdf.output(str(path))
    return path


def _sync(talks):
    for desk in talks.values():
        desk.negotiation.sync()


def _annex_of(desk: AgreementDesk, version: int | None = None) -> Annex:
    view = desk.view("agr-1")
    found = view.latest if version is None else next(v for v in view.versions if v.version == version)
    (meta,) = found.annexes
    return meta


def _saved(desk: AgreementDesk, tmp_path, name: str) -> bytes:
    return desk.negotiation.save_attachment(_annex_of(desk).attachment_id, tmp_path / name).read_bytes()


def _screenshot(talks, annex, tmp_path):
    """The delegate's copy of the draft's annex, one page screenshot with the copy lines cut off."""
    from parley.tracing.extract import render_pdf_page
    from parley.tracing.image_attacks import screenshot

    talks["tr"].post_text("agr-1", "Corridors", ARTICLES, annexes=[annex])
    _sync(talks)
    copy = talks["ru_d"].negotiation.save_attachment(_annex_of(talks["ru_d"]).attachment_id,
                                                     tmp_path / "delegate.pdf")
    shot = tmp_path / "shot.png"
    screenshot(render_pdf_page(copy, 0, dpi=100)).save(shot)
    return copy, shot


def test_screenshot_of_a_draft_annex_page_without_its_copy_line_names_its_reader(talks, annex, tmp_path):
    from pypdf import PdfReader

    from parley.client.attachments import trace_annex_leak

    copy, shot = _screenshot(talks, annex, tmp_path)
    canonical = hashlib.sha256(annex.read_bytes()).hexdigest()
    # every reader's version names the canonical file (what heads sign), while each holds its own stamped copy
    assert {_annex_of(desk).sha256 for desk in talks.values()} == {canonical}
    copies = {name: _saved(talks[name], tmp_path, f"{name}.pdf") for name in ("ua", "ru", "ru_d")}
    assert len(set(copies.values())) == 3 and annex.read_bytes() not in copies.values()
    assert talks["ru_d"].view("agr-1").latest.copy in PdfReader(copy).pages[0].extract_text()
    (listed,) = talks["ru_d"].summary("agr-1")["annexes"]
    assert listed["sha256"] == canonical and listed["copy"]["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert _saved(talks["tr"], tmp_path, "tr.pdf") == annex.read_bytes()  # the mediator's heads: canonical
    assert trace_annex_leak(shot, talks["ru_d"].negotiation.tracing_secrets()) is None  # readers cannot trace
    traced = trace_annex_leak(shot, talks["tr"].negotiation.tracing_secrets())
    assert traced is not None
    record, report = traced
    assert record.agreement_id == "agr-1" and record.versions == [1]
    (accused,) = report.accused
    assert record.recipients[accused.recipient]["member"] == talks["ru_d"].client.profile.member
    assert accused.p_bound < 1e-6


def test_parley_trace_names_the_reader_and_the_agreement_of_a_leaked_draft_annex_page(talks, annex, tmp_path,
                                                                                      monkeypatch):
    import json

    from cli_runner import run
    from parley.cli import audit

    _, shot = _screenshot(talks, annex, tmp_path)
    monkeypatch.setattr(audit, "open_client", lambda ctx: talks["tr"].client)
    code, out, err = run("--json", "trace", str(shot))
    assert code == 0, err
    data = json.loads(out)
    assert data["agreement_id"] == "agr-1"
    assert [m["member"] for m in data["accused_members"]] == [talks["ru_d"].client.profile.member]


def test_finalized_and_signed_annex_is_byte_identical_for_every_party_and_matches_the_signed_digest(
        talks, annex, tmp_path):
    from parley.client.bundle import verify_bundle

    tr = talks["tr"]
    listing = tmp_path / "annex-2-list.txt"
    listing.write_text("1. A. Ivanenko\n")
    tr.post_text("agr-1", "Corridors", ARTICLES, annexes=[annex, listing])
    tr.post_text("agr-1", "Corridors", ARTICLES)  # the annexes kept: the PDF stamped again for this version
    _sync(talks)
    ua_view = talks["ua"].view("agr-1")
    pdf_copy = ua_view.latest.annexes[0]
    assert talks["ua"].negotiation.save_attachment(pdf_copy.attachment_id, tmp_path / "draft.pdf"
                                                   ).read_bytes() != annex.read_bytes()
    assert pdf_copy.attachment_id != ua_view.versions[0].annexes[0].attachment_id
    # a non-PDF annex is one file for every reader, kept as it was (not posted again)
    assert len({v.annexes[1].attachment_id for v in ua_view.versions}) == 1
    tr.finalize("agr-1")
    _sync(talks)
    line = f"Annex: {hashlib.sha256(annex.read_bytes()).hexdigest()} {annex.stat().st_size} {annex.name}\n"
    for name, desk in talks.items():
        pdf, text = desk.view("agr-1").latest.annexes
        assert desk.negotiation.save_attachment(pdf.attachment_id, tmp_path / f"final-{name}.pdf"
                                                ).read_bytes() == annex.read_bytes()
        assert text.attachment_id == ua_view.versions[0].annexes[1].attachment_id
        assert line in desk.view("agr-1").document(desk.negotiation.id)
    for name in ("tr", "ua", "ru"):
        talks[name].sign("agr-1")
    for name in ("tr", "ua", "ru"):
        talks[name].consent_to_release("agr-1")
    tr.publish("agr-1")
    out = tmp_path / "publication"
    talks["ru"].bundle("agr-1", out)
    assert (out / "annexes" / annex.name).read_bytes() == annex.read_bytes()
    assert (out / "annexes" / listing.name).read_bytes() == listing.read_bytes()
    report = verify_bundle(out)
    assert report["valid"], report["failures"]


def test_finalize_revealing_annex_bytes_that_do_not_match_the_signed_digest_is_refused(talks, annex, tmp_path,
                                                                                       monkeypatch):
    from parley.client.attachments import post_attachment

    tr = talks["tr"]
    tr.post_text("agr-1", "Corridors", ARTICLES, annexes=[annex])
    forged = tmp_path / "forged" / annex.name
    forged.parent.mkdir()
    original = annex.read_bytes()
    forged.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])  # one bit, same size
    canonical = {"size": annex.stat().st_size, "sha256": hashlib.sha256(annex.read_bytes()).hexdigest()}

    def lying_post(path, parties):  # other bytes, posted under the canonical size and SHA-256
        return {**post_attachment(tr.negotiation, forged, parties), **canonical}

    monkeypatch.setattr(tr.negotiation, "_post_attachment", lying_post)
    tr.finalize("agr-1")
    _sync(talks)
    ua = talks["ua"]
    assert ua.view("agr-1").finalized is not None
    with pytest.raises(VerificationError):
        ua.sign("agr-1")
    assert not ua.view("agr-1").signatures
    with pytest.raises(VerificationError):
        _saved(ua, tmp_path, "final.pdf")


def test_finalize_naming_other_annexes_than_the_version_named_is_refused(talks, annex, tmp_path, monkeypatch):
    tr = talks["tr"]
    tr.post_text("agr-1", "Corridors", ARTICLES, annexes=[annex])
    forged = tmp_path / "forged" / annex.name
    forged.parent.mkdir()
    forged.write_bytes(annex.read_bytes() + b"\n% an extra page\n")
    monkeypatch.setattr(tr, "_canonical_annex_files", lambda version, folder: [forged])
    tr.finalize("agr-1")
    _sync(talks)
    view = talks["ua"].view("agr-1")
    assert view.finalized is None
    assert any("other annexes than version 1 named" in v for v in view.violations)


def test_draft_pdf_annex_over_the_stamping_bound_is_refused_unless_sent_untraced(talks, annex):
    tr = talks["tr"]
    from dataclasses import replace

    tr.client.limits = replace(tr.client.limits, max_stamped_pdf_bytes=annex.stat().st_size - 1)
    with pytest.raises(InputError, match="stamped with each reader's copy line"):
        tr.post_text("agr-1", "Corridors", ARTICLES, annexes=[annex])
    tr.post_text("agr-1", "Corridors", ARTICLES, annexes=[annex], tracing=False)  # one file for every reader
    _sync(talks)
    assert _annex_of(talks["ua"]).stamped is None
