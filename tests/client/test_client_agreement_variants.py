"""The mediator previews and vetoes the wording variants of an agreement version before posting it."""

from __future__ import annotations

import pytest

from parley.client.agreement import AgreementDesk
from parley.client.tracing import trace_leak
from parley.client.workflow import Negotiation
from parley.errors import InputError
from parley.tracing import DraftText
from parley.tracing.sample import english_memo_with_alternatives

VETO = "{The parties agree|The sides concur} to open the crossing points at dawn."


def _article(seed: int) -> str:
    return english_memo_with_alternatives(1400, seed=seed, share=0.8).replace("\n\n", " ")


ARTICLES = [{"heading": "Crossings", "text": _article(60) + " " + VETO},
            *({"heading": f"Article heading {k}", "text": _article(61 + k)} for k in range(3))]


@pytest.fixture
def desks(world):  # noqa: ANN001, ANN201
    """The mediator's desk first, then three readers'."""
    clients = [world.party(name) for name in ("Türkiye", "Ukraine", "Russian Federation", "Moldova")]
    nid = world.negotiation(*clients)
    return [AgreementDesk(Negotiation(client, nid)) for client in clients]


def _number(lines: list[str], wording: str) -> int:
    return next(int(line.split(".")[0]) for line in lines if f"/ '{wording}'" in line)


def _varied(desk: AgreementDesk, version: int) -> set[str]:
    """The second wordings of the slots of a version, from the mediator's tracing record of it."""
    record = next(r for r in desk.negotiation.tracing_secrets() if r.version == version)
    return {slot.alternatives[1] for slot in DraftText.from_json(record.drafts["en"]).joined.slots}


def _first_article(desk: AgreementDesk, version: int) -> str:
    desk.negotiation.sync()
    found = next(v for v in desk.view("agr-1").versions if v.version == version)
    return found.articles[0].text


def test_preview_lists_every_variant_and_posts_nothing(desks) -> None:  # noqa: ANN001
    mediator = desks[0]
    before = len(mediator.client.cache.events(mediator.negotiation.id))
    lines = mediator.variant_preview("agr-1", "Istanbul Memorandum", ARTICLES)
    assert len(lines) > 100 and [int(line.split(".")[0]) for line in lines] == list(range(1, len(lines) + 1))
    number = _number(lines, "The sides concur")
    assert lines[number - 1].endswith("(article 1)")
    assert mediator.variant_preview("agr-1", "Istanbul Memorandum", ARTICLES, vetoed=[number])[number - 1].endswith(
        "(vetoed)")
    mediator.negotiation.sync()
    assert len(mediator.client.cache.events(mediator.negotiation.id)) == before
    assert "agr-1" not in mediator.views()[0]
    with pytest.raises(InputError, match="no variant number"):
        mediator.variant_preview("agr-1", "Istanbul Memorandum", ARTICLES, vetoed=[len(lines) + 1])


def test_vetoed_variant_is_absent_from_every_readers_copy_and_the_leak_is_still_traced(desks) -> None:  # noqa: ANN001
    mediator, *readers = desks
    number = _number(mediator.variant_preview("agr-1", "Istanbul Memorandum", ARTICLES), "The sides concur")
    mediator.post_text("agr-1", "Istanbul Memorandum", ARTICLES, vetoed_variants=[number])
    assert "The sides concur" not in _varied(mediator, 1) and "expense" in _varied(mediator, 1)
    copies = [_first_article(reader, 1) for reader in readers]
    assert len(set(copies)) == len(readers)  # still worded per reader
    assert all("The sides concur" not in copy and "The parties agree to open" in copy for copy in copies)
    leaker = readers[1]
    leak = " ".join(a.text for a in leaker.view("agr-1").latest.articles)
    content, report = trace_leak(leak, mediator.negotiation.tracing_secrets())
    assert content.agreement_id == "agr-1"
    assert [a.recipient for a in report.accused] == [leaker.client.identity.device_key_id]


def test_a_passage_vetoed_once_stays_vetoed_in_later_versions(desks) -> None:  # noqa: ANN001
    # the veto is kept with the version (by the passage's context): a later version of an unchanged passage leaves
    # it alone too, so no reader's redline shows the vetoed wording coming back
    mediator, *readers = desks
    number = _number(mediator.variant_preview("agr-1", "Istanbul Memorandum", ARTICLES), "The sides concur")
    mediator.post_text("agr-1", "Istanbul Memorandum", ARTICLES, vetoed_variants=[number])
    later = [dict(a) for a in ARTICLES]
    later[2]["text"] += " The parties will meet again in Geneva before the end of the year."
    lines = mediator.variant_preview("agr-1", "Istanbul Memorandum", later)
    assert lines[_number(lines, "The sides concur") - 1].endswith("(vetoed in an earlier version)")
    mediator.post_text("agr-1", "Istanbul Memorandum", later)
    assert "The sides concur" not in _varied(mediator, 2)
    for reader in readers:
        assert "The sides concur" not in _first_article(reader, 2)
        assert _first_article(reader, 1) == _first_article(reader, 2)


def test_vetoing_variants_of_an_untraced_version_is_refused(desks) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match="needs tracing"):
        desks[0].post_text("agr-1", "Istanbul Memorandum", ARTICLES, tracing=False, vetoed_variants=[1])
