"""Agreement drafts delivered in per-reader wording: traced like memoranda, one text finalized and signed."""

from __future__ import annotations

import re

import pytest

from parley.client.agreement import AgreementDesk
from parley.client.tracing import trace_leak
from parley.client.workflow import Negotiation
from parley.errors import ForbiddenError
from parley.protocol import agreement as ag
from parley.tracing import parse_alternatives
from parley.tracing.sample import english_memo_with_alternatives


def _article(seed: int, chars: int = 1400) -> str:
    return english_memo_with_alternatives(chars, seed=seed, share=0.8).replace("\n\n", " ")


V1 = [{"heading": f"Article heading {k}", "text": _article(60 + k)} for k in range(5)]
V2 = [dict(a) for a in V1]
V2[1]["text"] = V1[1]["text"] + "\nThe parties will meet again in Geneva before the end of the year."
V2[3]["text"] = _article(97)


@pytest.fixture
def desks(world):  # noqa: ANN001, ANN201
    turkiye = world.party("Türkiye", member="Mediator")
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    nid = world.negotiation(turkiye, ukraine, russia)
    desks = {name: AgreementDesk(Negotiation(client, nid)) for name, client in
             (("tr", turkiye), ("ua", ukraine), ("ru", russia))}
    desks["tr"].post_text("agr-1", "Istanbul Memorandum", V1)
    desks["tr"].post_text("agr-1", "Istanbul Memorandum", V2)
    for desk in desks.values():
        desk.negotiation.sync()
    return desks


def _device(desk: AgreementDesk) -> str:
    return desk.client.identity.device_key_id


def _texts(desk: AgreementDesk, version: int) -> list[str]:
    found = next(v for v in desk.view("agr-1").versions if v.version == version)
    return [a.text for a in found.articles]


def test_each_reader_reads_its_own_wording_and_every_copy_names_one_canonical_digest(desks) -> None:  # noqa: ANN001
    canonical = [parse_alternatives(a["text"])[0] for a in V2]
    assert _texts(desks["tr"], 2) == canonical  # the mediator's heads hold the canonical text
    assert _texts(desks["ua"], 2) != _texts(desks["ru"], 2)
    assert canonical not in (_texts(desks["ua"], 2), _texts(desks["ru"], 2))
    digests = {desks[name].view("agr-1").latest.sha256 for name in desks}
    assert digests == {ag.text_sha256(ag.canonical_text("Istanbul Memorandum", [
        {"number": i, "heading": a["heading"], "text": t} for i, (a, t) in enumerate(zip(V2, canonical,
                                                                                         strict=True), 1)]))}


def test_retyped_excerpt_of_a_draft_without_its_copy_line_names_its_reader(desks) -> None:  # noqa: ANN001
    excerpt = " ".join(_texts(desks["ua"], 2)[2:4]).lower()
    excerpt = re.sub(r"\s+", " ", excerpt).replace(" the ", " teh ", 2)  # retyped, re-flowed, two typos
    assert "copy for" not in excerpt
    content, report = trace_leak(excerpt, desks["tr"].negotiation.tracing_secrets())
    assert (content.agreement_id, content.version) == ("agr-1", 2)
    assert [a.recipient for a in report.accused] == [_device(desks["ua"])]
    assert content.recipients[_device(desks["ua"])]["party"] == "Ukraine"


@pytest.mark.parametrize("finalized", [False, True])
def test_readers_redline_between_versions_marks_the_lines_of_the_canonical_redline(desks, finalized) -> None:  # noqa: ANN001
    if finalized:  # the final version becomes the canonical text: the redline still compares wordings alike
        desks["tr"].finalize("agr-1")
        for desk in desks.values():
            desk.negotiation.sync()
    canonical = desks["tr"].redline("agr-1", 1, 2).splitlines()
    for name in ("ua", "ru"):
        mine = desks[name].redline("agr-1", 1, 2).splitlines()
        assert [line[:1] for line in mine] == [line[:1] for line in canonical]
        assert [line for line in mine if line.startswith("@@")] == [line for line in canonical if line.startswith("@@")]
    for name in ("ua", "ru"):
        # an article the version left alone reads alike in the reader's two copies (no variant noise)
        versions = desks[name].view("agr-1").versions
        old, new = ([a.text for a in (v.copy_articles if v.copy_articles is not None else v.articles)] for v in versions)
        assert (old[0], old[2], old[4]) == (new[0], new[2], new[4])


def test_finalized_and_signed_text_is_one_text_for_every_party(desks) -> None:  # noqa: ANN001
    digest = desks["tr"].finalize("agr-1")
    for name in ("tr", "ua", "ru"):
        desks[name].negotiation.sync()
        desks[name].sign("agr-1", expected_sha256=digest)
    views = {}
    for name, desk in desks.items():
        desk.negotiation.sync()
        views[name] = desk.view("agr-1")
    texts = {view.latest.text for view in views.values()}
    documents = {view.document(desks["tr"].negotiation.id) for view in views.values()}
    assert len(texts) == 1 and len(documents) == 1
    assert ag.text_sha256(texts.pop()) == digest
    assert all(set(view.signatures) == {p for p in desks["tr"].parties()} for view in views.values())
    # the readers' own wording of the finalized version stays theirs, and differed from the signed text
    assert views["ua"].latest.copy_text != views["ua"].latest.text
    summaries = [desk.summary("agr-1")["articles"] for desk in desks.values()]
    assert summaries[0] == summaries[1] == summaries[2]


def test_finalize_revealing_another_canonical_text_than_the_version_named_is_refused(desks) -> None:  # noqa: ANN001
    tr = desks["tr"]
    view = tr.view("agr-1")
    canonical = tr._canonical_content("agr-1", view.latest)
    canonical["articles"][0]["text"] += " Except for the southern region."
    tr.client.post(tr.negotiation.id, ag.FINALIZE, {"agreement_id": "agr-1", "text_sha256": view.latest.sha256,
                                                    "override": False, "reason": None, "canonical": canonical},
                   parties=tr.parties(), authority="head")
    ua = desks["ua"]
    ua.negotiation.sync()
    assert ua.view("agr-1").finalized is None
    assert any("canonical" in v for v in ua.view("agr-1").violations)


def test_finalize_without_the_canonical_text_of_a_worded_version_is_refused(desks) -> None:  # noqa: ANN001
    tr = desks["tr"]
    view = tr.view("agr-1")
    tr.client.post(tr.negotiation.id, ag.FINALIZE, {"agreement_id": "agr-1", "text_sha256": view.latest.sha256,
                                                    "override": False, "reason": None},
                   parties=tr.parties(), authority="head")
    ru = desks["ru"]
    ru.negotiation.sync()
    assert ru.view("agr-1").finalized is None
    assert any("must carry the canonical text" in v for v in ru.view("agr-1").violations)


def test_later_version_from_a_device_without_the_agreements_tracing_key_is_refused(world) -> None:  # noqa: ANN001
    # a version worded under a fresh key would give every reader an unrelated codeword (one reader's two
    # versions reading as two colluders', his redline full of variant noise): the poster must hold the key
    turkiye = world.party("Türkiye", member="Mediator")
    ukraine = world.party("Ukraine")
    delegate = world.member(turkiye, "Delegate", "delegate")
    nid = world.negotiation(turkiye, ukraine)
    for party in (turkiye, ukraine):
        delegate.profile.pin(party.profile.party, verified=True)
    AgreementDesk(Negotiation(turkiye, nid)).post_text("agr-1", "Istanbul Memorandum", V1)
    desk = AgreementDesk(Negotiation(delegate, nid))
    with pytest.raises(ForbiddenError, match="tracing key"):
        desk.post_text("agr-1", "Istanbul Memorandum", V2)
    assert desk.post_text("agr-1", "Istanbul Memorandum", V2, tracing=False) == 2
