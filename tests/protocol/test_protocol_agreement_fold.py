"""The pure agreement fold, table-driven: a sequence of agreement events -> the view, or the violation (and the
view without the refused event). No relay, no client: entries as the client hands them to the fold."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from parley.crypto.keys import SigningKey
from parley.crypto.sshsig import sshsig_sign
from parley.protocol import agreement as ag
from parley.protocol.views import ConsentView, FinalizedView, ObjectionView, SignatureView, plain
from parley.protocol.workflow import Entry

NEGOTIATION = "n-00112233445566aa"
ARTICLES = [{"number": 1, "heading": "Ceasefire", "text": "A ceasefire of thirty days."},
            {"number": 2, "heading": "Prisoners", "text": "All for all."}]
ARTICLES_2 = [{"number": 1, "heading": "Ceasefire", "text": "A ceasefire of twenty days."},
              {"number": 2, "heading": "Prisoners", "text": "All for all."}]
TITLE = "Memorandum of understanding"
TEXT_1 = ag.canonical_text(TITLE, ARTICLES)
TEXT_2 = ag.canonical_text(TITLE, ARTICLES_2)


@dataclass(frozen=True)
class Who:
    party: str
    role: str
    name: str
    key: SigningKey


TR = Who("tr", "head", "Mediator", SigningKey.generate())
TR_DELEGATE = Who("tr", "delegate", "Mediator's delegate", SigningKey.generate())
UA = Who("ua", "head", "Head of Ukraine", SigningKey.generate())
RU = Who("ru", "head", "Head of Russia", SigningKey.generate())
UA_DELEGATE = Who("ua", "delegate", "Delegate of Ukraine", SigningKey.generate())


def ev(who: Who, event_type: str, content: dict[str, Any], authority: str = "head") -> dict[str, Any]:
    """One event of a table (its seq is its position in the table)."""
    return {"who": who, "type": event_type, "content": {"agreement_id": "accord", **content}, "authority": authority}


def fold(events: list[dict[str, Any]]) -> tuple[dict[str, ag.AgreementView], list[str]]:
    entries = [Entry(seq=i, event_id=f"{i:064x}", created=f"2026-03-0{1 + i // 50}T10:{i % 50:02d}:00Z",
                     author=e["who"].name, role=e["who"].role, party=e["who"].party, authority=e["authority"],
                     audience=("ru", "tr", "ua"), type=e["type"], content=e["content"],
                     device=e["who"].key.key_id, signing_key=e["who"].key.public_b64)
               for i, e in enumerate(events)]
    return ag.derive_agreements(entries, NEGOTIATION)


def text(version: int = 1, articles: list[dict[str, Any]] = ARTICLES, who: Who = TR) -> dict[str, Any]:
    return ev(who, ag.TEXT, {"version": version, "title": TITLE, "articles": articles}, authority="member")


def finalize(digest: str = ag.text_sha256(TEXT_1), who: Who = TR, **extra: Any) -> dict[str, Any]:
    return ev(who, ag.FINALIZE, {"text_sha256": digest, **extra})


def objection(article: int, kind: str = "objection", who: Who = UA, version: int = 1) -> dict[str, Any]:
    return ev(who, ag.OBJECTION, {"version": version, "article": article, "kind": kind, "text": "Too short."},
              authority="member")


def document(version: int = 1, body: str = TEXT_1) -> str:
    return ag.signed_document(NEGOTIATION, "accord", version, body)


def sign(who: Who, version: int = 1, body: str = TEXT_1, digest: str | None = None) -> dict[str, Any]:
    signature = sshsig_sign(who.key.private, document(version, body).encode(), ag.SIGN_NAMESPACE)
    return ev(who, ag.SIGN, {"text_sha256": digest or ag.text_sha256(body), "version": version,
                             "signature": signature})


def release(who: Who, **extra: Any) -> dict[str, Any]:
    consent = sshsig_sign(who.key.private, document().encode(), ag.RELEASE_NAMESPACE)
    return ev(who, ag.RELEASE, {"text_sha256": ag.text_sha256(TEXT_1), "version": 1, "consent": consent, **extra})


PARTIES = ["ru", "tr", "ua"]
View = Callable[[ag.AgreementView], bool]

# ---- event sequence -> view ------------------------------------------------------------------------------
VIEWS: list[tuple[str, list[dict[str, Any]], View]] = [
    ("a first text: drafting, mediator set",
     [text()], lambda v: v.mediator == "tr" and v.latest.sha256 == ag.text_sha256(TEXT_1)
     and v.seal_state(PARTIES) == "drafting"),
    ("a second version becomes the latest, the first is kept",
     [text(), text(2, ARTICLES_2)], lambda v: [x.version for x in v.versions] == [1, 2]
     and v.latest.text == TEXT_2),
    ("an objection marks its article",
     [text(), objection(1)], lambda v: [a["status"] for a in v.article_status()] == ["objected", "no objection"]),
    ("a withdrawn objection no longer counts",
     [text(), objection(1), objection(1, "withdraw")], lambda v: v.objections == []),
    ("a comment is not an objection",
     [text(), objection(2, "comment")], lambda v: [a["status"] for a in v.article_status()][1] != "objected"),
    ("finalize freezes the latest text",
     [text(), finalize()], lambda v: v.finalized.version == 1 and v.seal_state(PARTIES) == "sealed"),
    ("finalize over open objections with an explicit override",
     [text(), objection(1), finalize(override=True, reason="time")],
     lambda v: v.finalized.override and v.finalized.open_objections == [1]),
    ("one party signed: still sealed",
     [text(), finalize(), sign(UA)], lambda v: set(v.signatures) == {"ua"} and v.seal_state(PARTIES) == "sealed"),
    ("every party signed: sealed until every party consents",
     [text(), finalize(), sign(UA), sign(RU), sign(TR)],
     lambda v: v.seal_state(PARTIES) == "signed, sealed until every party consents to release"),
    ("every party signed and consented: released",
     [text(), finalize(), sign(UA), sign(RU), sign(TR), release(UA), release(RU), release(TR)],
     lambda v: v.seal_state(PARTIES) == "released" and set(v.consents) == set(PARTIES)),
]


@pytest.mark.parametrize(("events", "holds"), [(e, h) for _, e, h in VIEWS], ids=[n for n, _, _ in VIEWS])
def test_agreement_fold(events, holds):
    views, violations = fold(events)
    assert violations == []
    assert holds(views["accord"])


# ---- event sequence -> the violation, and the view without the refused event ---------------------------------
VIOLATIONS: list[tuple[str, list[dict[str, Any]], str, View]] = [
    ("a text by another party than the mediator's",
     [text(), text(2, ARTICLES_2, who=UA)], "only the mediator's party", lambda v: len(v.versions) == 1),
    ("a version number skipped",
     [text(), text(3, ARTICLES_2)], "numbered one after another", lambda v: len(v.versions) == 1),
    ("a new version after finalizing",
     [text(), finalize(), text(2, ARTICLES_2)], "the text is finalized", lambda v: len(v.versions) == 1),
    ("an objection to a version that does not exist",
     [text(), objection(1, version=2)], "unknown version", lambda v: v.objections == []),
    ("an objection of an unknown kind",
     [text(), objection(1, kind="veto")], "kind must be", lambda v: v.objections == []),
    ("finalize by a delegate of the mediator (member authority)",
     [text(), {**finalize(who=TR_DELEGATE), "authority": "member"}], "only the mediator's head",
     lambda v: v.finalized is None),
    ("finalize by another party's head",
     [text(), finalize(who=UA)], "only the mediator's head", lambda v: v.finalized is None),
    ("finalize naming an older text",
     [text(), text(2, ARTICLES_2), finalize(ag.text_sha256(TEXT_1))], "another text than the latest",
     lambda v: v.finalized is None),
    ("finalize over open objections without override",
     [text(), objection(1), finalize()], "open objections", lambda v: v.finalized is None),
    ("a signature before the text is finalized",
     [text(), sign(UA)], "before the text is finalized", lambda v: v.signatures == {}),
    ("a delegate signing",
     [text(), finalize(), sign(UA_DELEGATE)], "only a head", lambda v: v.signatures == {}),
    ("a signature over another text than the finalized one",
     [text(), text(2, ARTICLES_2), finalize(ag.text_sha256(TEXT_2)), sign(UA, version=2, body=TEXT_1)],
     "different text than the finalized one", lambda v: v.signatures == {}),
    ("a release consent naming parties that have not all signed",
     [text(), finalize(), sign(UA), release(UA, parties=PARTIES)], "before every party signed",
     lambda v: v.consents == {}),
    ("a release consent before the text is finalized",
     [text(), release(UA)], "before the text is finalized", lambda v: v.consents == {}),
    ("an act without the text's digest",
     [text(), finalize("abc")], "SHA-256 of the canonical text", lambda v: v.finalized is None),
]


@pytest.mark.parametrize(("events", "violation", "holds"), [(e, m, h) for _, e, m, h in VIOLATIONS],
                         ids=[n for n, *_ in VIOLATIONS])
def test_agreement_violation(events, violation, holds):
    views, violations = fold(events)
    assert len(violations) == 1, violations
    assert violations[0].startswith(f"event {len(events) - 1} (")
    assert violation in violations[0]
    assert views["accord"].violations == violations  # shown on the agreement it concerns too
    assert holds(views["accord"])


def test_agreement_fold_orders_by_seq_not_by_arrival():
    events = [text(), finalize()]
    views, _ = fold(events)
    reordered, violations = ag.derive_agreements(
        list(reversed([Entry(seq=i, event_id=f"{i:064x}", created="2026-03-01T10:00:00Z", author=e["who"].name,
                             role=e["who"].role, party=e["who"].party, authority=e["authority"],
                             audience=("ru", "tr", "ua"), type=e["type"], content=e["content"],
                             device=e["who"].key.key_id, signing_key=e["who"].key.public_b64)
                       for i, e in enumerate(events)])), NEGOTIATION)
    assert violations == [] and reordered["accord"].finalized.sha256 == views["accord"].finalized.sha256


def test_without_the_negotiation_id_no_signature_counts():
    entries = [Entry(seq=i, event_id=f"{i:064x}", created="2026-03-01T10:00:00Z", author=e["who"].name,
                     role=e["who"].role, party=e["who"].party, authority=e["authority"], audience=("ru", "tr", "ua"),
                     type=e["type"], content=e["content"], device=e["who"].key.key_id,
                     signing_key=e["who"].key.public_b64)
               for i, e in enumerate([text(), finalize(), sign(UA)])]
    views, violations = ag.derive_agreements(entries)
    assert views["accord"].signatures == {} and len(violations) == 1


# ---- the typed records of the view (``parley.protocol.views``) --------------------------------------------------
def test_objections_finalize_signatures_and_consents_are_typed():
    views, violations = fold([text(), objection(1), objection(2, "comment"), finalize(override=True, reason="time"),
                              sign(UA), sign(RU), sign(TR), release(UA)])
    assert violations == []
    view = views["accord"]
    assert all(isinstance(o, ObjectionView) for o in view.objections)
    assert [(o.article, o.kind, o.party, o.by, o.text, o.language, o.at) for o in view.objections] == [
        (1, "objection", "ua", UA.name, "Too short.", None, "2026-03-01T10:01:00Z"),
        (2, "comment", "ua", UA.name, "Too short.", None, "2026-03-01T10:02:00Z")]
    assert isinstance(view.finalized, FinalizedView)
    assert (view.finalized.sha256, view.finalized.version, view.finalized.at, view.finalized.override,
            view.finalized.reason, view.finalized.open_objections, view.finalized.sign_by) == (
        ag.text_sha256(TEXT_1), 1, "2026-03-01T10:03:00Z", True, "time", [1], None)
    signature = view.signatures["ru"]
    assert isinstance(signature, SignatureView)
    assert (signature.device, signature.public_key, signature.by, signature.seq, signature.event_id,
            signature.languages) == (RU.key.key_id, RU.key.public_b64, RU.name, 5, f"{5:064x}", {})
    assert signature.signature.startswith("-----BEGIN SSH SIGNATURE-----")
    (consent,) = view.consents.values()
    assert isinstance(consent, ConsentView) and (consent.device, consent.by) == (UA.key.key_id, UA.name)


def test_a_withdrawal_removes_the_typed_objection_of_its_party_only():
    views, _ = fold([text(), objection(1), objection(1, who=RU), objection(1, "withdraw")])
    assert [o.party for o in views["accord"].objections] == ["ru"]


def test_the_finalize_in_plain_form_keeps_its_json_shape():
    views, _ = fold([text(), finalize(sign_by="2026-04-01T10:00:00Z")])
    assert plain(views["accord"].finalized) == {
        "sha256": ag.text_sha256(TEXT_1), "version": 1, "at": "2026-03-01T10:01:00Z",
        "sign_by": "2026-04-01T10:00:00Z", "override": False, "reason": None, "open_objections": []}
