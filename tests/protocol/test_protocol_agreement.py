"""The pure agreement and agenda folds: who may sign, release and run the agenda, as data tables."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from parley.crypto.keys import SigningKey
from parley.crypto.sshsig import sshsig_sign
from parley.errors import InputError, ProtocolError, SignatureError
from parley.protocol import agreement as ag
from parley.protocol import workflow as wf

NEGOTIATION = "n-0123456789abcdef"
ARTICLES = [{"number": 1, "heading": "Ceasefire", "text": "A ceasefire of thirty days."},
            {"number": 2, "heading": "Prisoners", "text": "All for all."}]
TITLE = "Istanbul Memorandum"
TEXT = ag.canonical_text(TITLE, ARTICLES)


@dataclass
class Member:
    party: str
    role: str
    key: SigningKey
    name: str

    @property
    def device(self) -> str:
        return self.key.key_id


MEDIATOR = Member("tr", "head", SigningKey.generate(), "Mediator")
UA_HEAD = Member("ua", "head", SigningKey.generate(), "Head of Ukraine")
UA_DELEGATE = Member("ua", "delegate", SigningKey.generate(), "Delegate of Ukraine")
RU_HEAD = Member("ru", "head", SigningKey.generate(), "Head of Russia")
_seq = itertools.count()


def entry(member: Member, event_type: str, content: dict, authority: str = "head") -> wf.Entry:
    return wf.Entry(seq=next(_seq), event_id=f"{next(_seq):064x}", created="2026-01-01T00:00:00Z",
                    author=member.name, role=member.role, party=member.party, authority=authority,
                    audience=("ru", "tr", "ua"), type=event_type, content=content, device=member.device,
                    signing_key=member.key.public_b64)


def document(agreement_id: str = "agr-1", negotiation: str = NEGOTIATION, version: int = 1, text: str = TEXT) -> str:
    return ag.signed_document(negotiation, agreement_id, version, text)


def sign(member: Member, data: str, namespace: str = ag.SIGN_NAMESPACE) -> str:
    return sshsig_sign(member.key.private, data.encode(), namespace)


def finalized(agreement_id: str = "agr-1") -> list[wf.Entry]:
    return [entry(MEDIATOR, ag.TEXT, {"agreement_id": agreement_id, "version": 1, "title": TITLE,
                                      "articles": ARTICLES}, authority="member"),
            entry(MEDIATOR, ag.FINALIZE, {"agreement_id": agreement_id, "text_sha256": ag.text_sha256(TEXT)})]


def sign_event(member: Member, signature: str, agreement_id: str = "agr-1", **extra) -> wf.Entry:
    return entry(member, ag.SIGN, {"agreement_id": agreement_id, "text_sha256": ag.text_sha256(TEXT),
                                   "version": 1, "signature": signature, **extra})


SIGN_CASES = [
    # (attack or case, signer, signature, expected: counted or the violation it shows)
    ("head signs the signed document with its own key", UA_HEAD, lambda: sign(UA_HEAD, document()), None),
    ("head presents another party's signature", UA_HEAD, lambda: sign(RU_HEAD, document()), "certified key"),
    ("head presents another party's signature and key", UA_HEAD, lambda: sign(RU_HEAD, document()), "certified key"),
    ("signature over the bare text (old format)", UA_HEAD, lambda: sign(UA_HEAD, TEXT), "certified key"),
    ("old namespace", UA_HEAD, lambda: sign(UA_HEAD, document(), ag.LEGACY_SIGN_NAMESPACE), "certified key"),
    ("signature made for another agreement with the same text", UA_HEAD,
     lambda: sign(UA_HEAD, document(agreement_id="agr-2")), "certified key"),
    ("signature made in another negotiation", UA_HEAD,
     lambda: sign(UA_HEAD, document(negotiation="n-ffffffffffffffff")), "certified key"),
    ("signature made for another version", UA_HEAD, lambda: sign(UA_HEAD, document(version=2)), "certified key"),
    ("a release consent presented as a signature", UA_HEAD,
     lambda: sign(UA_HEAD, document(), ag.RELEASE_NAMESPACE), "certified key"),
    ("delegate signs", UA_DELEGATE, lambda: sign(UA_DELEGATE, document()), "only a head"),
]


@pytest.mark.parametrize("case, signer, signature, violation", SIGN_CASES, ids=[c[0] for c in SIGN_CASES])
def test_sign_rule(case, signer, signature, violation):
    extra = {"public_key": RU_HEAD.key.public_b64} if "and key" in case else {}
    views, violations = ag.derive_agreements([*finalized(), sign_event(signer, signature(), **extra)], NEGOTIATION)
    if violation is None:
        assert set(views["agr-1"].signatures) == {signer.party} and violations == []
        assert views["agr-1"].signatures[signer.party].public_key == signer.key.public_b64
    else:
        assert views["agr-1"].signatures == {}
        assert len(violations) == 1 and violation in violations[0], violations


RELEASE_CASES = [
    ("head consents over the signed document", UA_HEAD, lambda: sign(UA_HEAD, document(), ag.RELEASE_NAMESPACE), None),
    ("consent by another party's key", UA_HEAD, lambda: sign(MEDIATOR, document(), ag.RELEASE_NAMESPACE),
     "certified key"),
    ("a signature presented as a consent", UA_HEAD, lambda: sign(UA_HEAD, document()), "certified key"),
    ("consent made for another agreement", UA_HEAD,
     lambda: sign(UA_HEAD, document(agreement_id="agr-2"), ag.RELEASE_NAMESPACE), "certified key"),
]


@pytest.mark.parametrize("case, member, consent, violation", RELEASE_CASES, ids=[c[0] for c in RELEASE_CASES])
def test_release_rule(case, member, consent, violation):
    text = finalized()
    signed = [sign_event(m, sign(m, document())) for m in (MEDIATOR, UA_HEAD)]
    release = entry(member, ag.RELEASE, {"agreement_id": "agr-1", "text_sha256": ag.text_sha256(TEXT),
                                         "version": 1, "consent": consent()})
    views, violations = ag.derive_agreements([*text, *signed, release], NEGOTIATION)
    assert set(views["agr-1"].signatures) == {"tr", "ua"}
    if violation is None:
        assert set(views["agr-1"].consents) == {"ua"} and violations == []
        assert views["agr-1"].seal_state(["tr", "ua"]) == "signed, sealed until every party consents to release"
    else:
        assert views["agr-1"].consents == {}
        assert len(violations) == 1 and violation in violations[0], violations


def test_sign_naming_another_version_than_the_finalized_one_is_a_violation():
    views, violations = ag.derive_agreements(
        [*finalized(), sign_event(UA_HEAD, sign(UA_HEAD, document()), version=2)], NEGOTIATION)
    assert views["agr-1"].signatures == {} and "another version" in violations[0]


def test_signed_document_names_its_context_and_reads_back():
    text = document()
    assert text.splitlines()[:5] == [ag.SIGNED_DOCUMENT_FORMAT, f"Negotiation: {NEGOTIATION}", "Agreement: agr-1",
                                     "Version: 1", f"Text-SHA256: {ag.text_sha256(TEXT)}"]
    assert text.endswith("\n\n" + TEXT)
    assert ag.parse_signed_document(text) == {"negotiation_id": NEGOTIATION, "agreement_id": "agr-1", "version": 1,
                                              "text_sha256": ag.text_sha256(TEXT), "text": TEXT, "annexes": []}


MAP = {"name": "Annex 1 - map of the line of contact.png", "size": 2048, "sha256": "ab" * 32}
LIST = {"name": "annex-2-prisoners.pdf", "size": 10, "sha256": "cd" * 32}


def annexed(annexes: list[dict]) -> list[wf.Entry]:
    return [entry(MEDIATOR, ag.TEXT, {"agreement_id": "agr-1", "version": 1, "title": TITLE, "articles": ARTICLES,
                                      "annexes": annexes}, authority="member"),
            entry(MEDIATOR, ag.FINALIZE, {"agreement_id": "agr-1", "text_sha256": ag.text_sha256(TEXT)})]


def test_signed_document_lists_the_annexes_by_digest_size_and_name_and_reads_back():
    text = ag.signed_document(NEGOTIATION, "agr-1", 1, TEXT, annexes=[MAP, LIST])
    assert text.split("\n\n")[0].splitlines()[-2:] == [f"Annex: {'ab' * 32} 2048 {MAP['name']}",
                                                         f"Annex: {'cd' * 32} 10 {LIST['name']}"]
    assert ag.parse_signed_document(text)["annexes"] == [MAP, LIST]


def test_signature_over_the_text_with_another_annex_list_is_not_counted():
    # The head signed the same text, but with the map swapped for another file (or no annex at all).
    other_map = {**MAP, "sha256": "ef" * 32}
    for signed_list in ([other_map, LIST], [LIST], []):
        forged = sign(UA_HEAD, ag.signed_document(NEGOTIATION, "agr-1", 1, TEXT, annexes=signed_list))
        views, violations = ag.derive_agreements([*annexed([MAP, LIST]), sign_event(UA_HEAD, forged)], NEGOTIATION)
        assert views["agr-1"].signatures == {} and "certified key" in violations[0], violations
    good = sign(UA_HEAD, ag.signed_document(NEGOTIATION, "agr-1", 1, TEXT, annexes=[MAP, LIST]))
    views, violations = ag.derive_agreements([*annexed([MAP, LIST]), sign_event(UA_HEAD, good)], NEGOTIATION)
    assert set(views["agr-1"].signatures) == {"ua"} and violations == []


@pytest.mark.parametrize("annexes", [
    [{**MAP, "name": "../../etc/passwd"}], [{**MAP, "name": ".hidden"}], [{**MAP, "name": "two\nlines"}],
    [{**MAP, "size": -1}], [{**MAP, "sha256": "00"}], [MAP, MAP], "map.png",
])
def test_a_malformed_annex_list_is_refused(annexes):
    views, violations = ag.derive_agreements(annexed(annexes)[:1], NEGOTIATION)
    assert "agr-1" not in views or not views["agr-1"].versions
    assert violations and "annex" in violations[0]


@pytest.mark.parametrize("bad", [
    TEXT,
    ag.signed_document(NEGOTIATION, "agr-1", 1, TEXT, annexes=[MAP]).replace("2048", "2049x"),
    document().replace(ag.text_sha256(TEXT), "0" * 64),
    document().replace("Version: 1", "Version: one"),
    document() + " ",
])
def test_parse_signed_document_refuses_a_document_whose_header_does_not_match(bad):
    with pytest.raises(InputError):
        ag.parse_signed_document(bad)


@pytest.mark.parametrize("agreement_id", ["agr\n1", "", "a" * 65, "agr 1"])
def test_an_agreement_id_that_could_break_the_header_block_is_refused(agreement_id):
    with pytest.raises(InputError):
        ag.signed_document(NEGOTIATION, agreement_id, 1, TEXT)
    _, violations = ag.derive_agreements(finalized(agreement_id), NEGOTIATION)
    assert len(violations) == 2


def _publication(signers: dict[str, Member], consenters: dict[str, Member], doc: str | None = None) -> dict:
    doc = doc or document()
    return {"agreement_id": "agr-1", "title": TITLE, "version": 1, "text": TEXT, "document": document(),
            "signatures": {p: {"signature": sign(m, doc), "device": m.device} for p, m in signers.items()},
            "consents": {p: {"signature": sign(m, doc, ag.RELEASE_NAMESPACE), "device": m.device}
                         for p, m in consenters.items()}}


HEADS = {m.party: {m.device: m.key.public_b64} for m in (MEDIATOR, UA_HEAD)}
PUBLICATION_CASES = [
    ("every head signed and consented", _publication({"tr": MEDIATOR, "ua": UA_HEAD}, {"tr": MEDIATOR, "ua": UA_HEAD}),
     None),
    ("a consent is missing", _publication({"tr": MEDIATOR, "ua": UA_HEAD}, {"tr": MEDIATOR}), ProtocolError),
    ("one party's signature listed under another", _publication({"tr": MEDIATOR, "ua": MEDIATOR},
                                                                {"tr": MEDIATOR, "ua": UA_HEAD}), ProtocolError),
    ("a delegate's signature", _publication({"tr": MEDIATOR, "ua": UA_DELEGATE}, {"tr": MEDIATOR, "ua": UA_HEAD}),
     ProtocolError),
    ("signatures made for another agreement", _publication({"tr": MEDIATOR, "ua": UA_HEAD},
                                                          {"tr": MEDIATOR, "ua": UA_HEAD}, document("agr-2")),
     SignatureError),
]


@pytest.mark.parametrize("case, content, error", PUBLICATION_CASES, ids=[c[0] for c in PUBLICATION_CASES])
def test_publication_rule(case, content, error):
    if error is None:
        ag.check_publication(content, NEGOTIATION, HEADS)
    else:
        with pytest.raises(error):
            ag.check_publication(content, NEGOTIATION, HEADS)


def test_publication_in_another_negotiation_is_refused():
    content = _publication({"tr": MEDIATOR, "ua": UA_HEAD}, {"tr": MEDIATOR, "ua": UA_HEAD})
    with pytest.raises(ProtocolError, match="negotiation, agreement, version and text"):
        ag.check_publication(content, "n-ffffffffffffffff", HEADS)


# ---- agenda --------------------------------------------------------------------------------------------
AGENDA_CASES = [
    # (case, event type, author party, author role, expected violation or None); tr convenes, ua opened the issue
    ("convener closes", wf.ISSUE_CLOSE, "tr", "delegate", None),
    ("opener renames", wf.ISSUE_RENAME, "ua", "delegate", None),
    ("opener's head closes", wf.ISSUE_CLOSE, "ua", "head", None),
    ("third party closes", wf.ISSUE_CLOSE, "ru", "head", "only the convening party or the party that opened"),
    ("third party renames", wf.ISSUE_RENAME, "ru", "delegate", "only the convening party or the party that opened"),
    ("observer of the convening party closes", wf.ISSUE_CLOSE, "tr", "observer", "observer"),
    ("observer opens an issue", wf.ISSUE_ADD, "ru", "observer", "observer"),
    ("any other member opens an issue", wf.ISSUE_ADD, "ru", "expert", None),
]


@pytest.mark.parametrize("case, event_type, party, role, violation", AGENDA_CASES, ids=[c[0] for c in AGENDA_CASES])
def test_agenda_rule(case, event_type, party, role, violation):
    opener = wf.Entry(seq=0, event_id="0" * 64, created="2026-01-01T00:00:00Z", author="Head of Ukraine",
                      role="head", party="ua", authority="member", audience=("ru", "tr", "ua"),
                      type=wf.ISSUE_ADD, content={"issue_id": "ceasefire", "title": "Ceasefire"})
    issue_id = "other" if event_type == wf.ISSUE_ADD else "ceasefire"
    content = {"issue_id": issue_id, **({} if event_type == wf.ISSUE_CLOSE else {"title": "New title"})}
    act = wf.Entry(seq=1, event_id="1" * 64, created="2026-01-01T00:01:00Z", author="someone", role=role,
                   party=party, authority="member", audience=("ru", "tr", "ua"), type=event_type, content=content)
    views = wf.derive_views([opener, act], {}, convener="tr")
    before = {"ceasefire": ("open", "Ceasefire")}
    after = {k: (v.status, v.title) for k, v in views.issues.items()}
    if violation is None:
        assert views.violations == []
        assert after != before
    else:
        assert after == before
        assert len(views.violations) == 1 and violation in views.violations[0]
