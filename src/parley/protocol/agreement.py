"""The agreement: single negotiating text, objections, finalize, signatures, release, publication.

Rules enforced here, by clients and (for publication) by the relay:
- versions of the text are posted by the mediator (the convening party's head);
- finalize freezes the SHA-256 of the canonical text, only when no article of the
  latest version has an open objection, unless the mediator records an override;
- each party's head signs the canonical text (SSHSIG, namespace ``agreement-v1@parley``);
- until every party has signed, the agreement is *sealed*;
- after all signatures, each head consents to release (SSHSIG, namespace
  ``release-v1@parley``); only with every consent can a publication event carry
  the text in clear, and the relay refuses one that lacks any signature or consent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from parley.crypto.keys import load_public_key
from parley.crypto.sshsig import AGREEMENT_NAMESPACE, sshsig_verify
from parley.errors import InputError, ProtocolError, SignatureError
from parley.protocol.workflow import Entry
from parley.tracing.marks import unmark

RELEASE_NAMESPACE = "release-v1@parley"
TEXT, OBJECTION, FINALIZE, SIGN, RELEASE = (
    "agreement.text", "agreement.objection", "agreement.finalize", "agreement.sign", "agreement.release")
PUBLICATION = "agreement.publication"
AGREEMENT_TYPES = frozenset({TEXT, OBJECTION, FINALIZE, SIGN, RELEASE})


def canonical_text(title: str, articles: Iterable[Mapping[str, Any]]) -> str:
    """The exact text everybody signs: title, then each article as 'Article N. Heading' and its text.

    Raises:
        InputError: no articles, empty fields, or numbering not 1..n.
    """
    if not isinstance(title, str) or not title.strip() or "\n" in title:
        raise InputError("the agreement needs a one-line title")
    articles = list(articles)
    if not articles:
        raise InputError("the agreement text needs at least one article")
    lines = [title.strip(), ""]
    for expected, article in enumerate(articles, start=1):
        if not isinstance(article, Mapping) or article.get("number") != expected:
            raise InputError(f"articles must be numbered 1 to {len(articles)} in order")
        heading, text = article.get("heading"), article.get("text")
        if not isinstance(heading, str) or not heading.strip() or "\n" in heading:
            raise InputError(f"article {expected} needs a one-line heading")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"article {expected} is empty")
        lines += [f"Article {expected}. {heading.strip()}", text.strip(), ""]
    return "\n".join(lines)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class AgreementView:
    agreement_id: str
    mediator: str | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    objections: list[dict[str, Any]] = field(default_factory=list)
    finalized: dict[str, Any] | None = None
    signatures: dict[str, dict[str, Any]] = field(default_factory=dict)
    consents: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.versions[-1] if self.versions else None

    def article_status(self) -> list[dict[str, Any]]:
        """Per article of the latest version: agreed by all, or objected by whom."""
        if self.latest is None:
            return []
        version = self.latest["version"]
        out = []
        for article in self.latest["articles"]:
            by = sorted({o["party"] for o in self.objections
                         if o["version"] == version and o["article"] == article["number"] and o["kind"] == "objection"})
            out.append({"number": article["number"], "heading": article["heading"],
                        "status": "objected" if by else "agreed", "objected_by": by})
        return out

    def seal_state(self, parties: Iterable[str]) -> str:
        parties = set(parties)
        if self.finalized is None:
            return "drafting"
        if not parties <= set(self.signatures):
            return "sealed"
        if not parties <= set(self.consents):
            return "signed, sealed until every party consents to release"
        return "released"


def check_agreement_content(event_type: str, content: Any) -> None:
    """Raises: InputError for malformed agreement content."""
    if not isinstance(content, Mapping) or not isinstance(content.get("agreement_id"), str):
        raise InputError("agreement events name their agreement_id")
    if event_type == TEXT:
        canonical_text(content.get("title", ""), content.get("articles", []))
        if not isinstance(content.get("version"), int) or content["version"] < 1:
            raise InputError("a text version is a number from 1")
    elif event_type == OBJECTION:
        if content.get("kind") not in ("objection", "comment", "withdraw"):
            raise InputError("kind must be objection, comment or withdraw")
        if not isinstance(content.get("article"), int) or not isinstance(content.get("version"), int):
            raise InputError("an objection names a version and an article number")
    elif event_type in (FINALIZE, SIGN, RELEASE):
        digest = content.get("text_sha256")
        if not isinstance(digest, str) or len(digest) != 64:
            raise InputError("agreement acts name the SHA-256 of the canonical text")


def derive_agreements(entries: Iterable[Entry]) -> tuple[dict[str, AgreementView], list[str]]:
    """Fold agreement events into views; invalid ones are listed as violations and skipped."""
    agreements: dict[str, AgreementView] = {}
    violations: list[str] = []
    for e in sorted(entries, key=lambda x: x.seq):
        if e.type not in AGREEMENT_TYPES:
            continue
        try:
            check_agreement_content(e.type, e.content)
            _apply(agreements, e)
        except (InputError, ProtocolError, SignatureError) as exc:
            violations.append(f"event {e.seq} ({e.type}) by {e.author}: {exc.message}")
    return agreements, violations


def _apply(agreements: dict[str, AgreementView], e: Entry) -> None:
    c = e.content
    view = agreements.setdefault(c["agreement_id"], AgreementView(c["agreement_id"]))
    if e.type == TEXT:
        if view.mediator is None:
            view.mediator = e.party
        elif e.party != view.mediator:
            raise ProtocolError("only the mediator's party posts versions of the single negotiating text")
        if view.finalized is not None:
            raise ProtocolError("the text is finalized")
        if c["version"] != len(view.versions) + 1:
            raise InputError("text versions are numbered one after another")
        # Copies may carry invisible tracing marks: everything is signed over the un-marked text.
        text = canonical_text(c["title"], [{**a, "text": unmark(a["text"]) if isinstance(a.get("text"), str) else a.get("text")}
                                           for a in c["articles"] if isinstance(a, Mapping)])
        view.versions.append({"version": c["version"], "title": c["title"], "articles": list(c["articles"]),
                              "text": text, "sha256": text_sha256(text), "at": e.created, "copy": c.get("copy")})
    elif e.type == OBJECTION:
        if view.latest is None or c["version"] > view.latest["version"]:
            raise InputError("objection to an unknown version")
        if c["kind"] == "withdraw":
            view.objections = [o for o in view.objections if not (o["party"] == e.party and o["article"] == c["article"]
                                                                  and o["version"] == c["version"])]
        else:
            view.objections.append({"version": c["version"], "article": c["article"], "kind": c["kind"],
                                    "party": e.party, "by": e.author, "text": c.get("text", ""), "at": e.created})
    elif e.type == FINALIZE:
        if e.party != view.mediator or e.authority != "head":
            raise ProtocolError("only the mediator's head of delegation finalizes the text")
        if view.latest is None or c["text_sha256"] != view.latest["sha256"]:
            raise ProtocolError("finalize names another text than the latest version")
        open_objections = [a for a in view.article_status() if a["status"] == "objected"]
        if open_objections and not c.get("override"):
            raise ProtocolError("articles have open objections; finalizing needs an explicit override")
        view.finalized = {"sha256": c["text_sha256"], "version": view.latest["version"], "at": e.created,
                          "override": bool(c.get("override")), "reason": c.get("reason"),
                          "open_objections": [a["number"] for a in open_objections]}
    elif e.type == SIGN:
        _check_act(view, e, "sign")
        text = view.latest["text"]
        _verify_sshsig(c.get("signature"), text, AGREEMENT_NAMESPACE, c.get("public_key"))
        view.signatures[e.party] = {"signature": c["signature"], "public_key": c["public_key"], "by": e.author,
                                    "at": e.created, "event_id": e.event_id, "seq": e.seq}
    elif e.type == RELEASE:
        _check_act(view, e, "consent to release")
        if view.finalized is None or not set(view.signatures) >= set(c.get("parties", view.signatures)):
            raise ProtocolError("release consent before every party signed")
        _verify_sshsig(c.get("consent"), view.latest["text"], RELEASE_NAMESPACE, c.get("public_key"))
        view.consents[e.party] = {"consent": c["consent"], "public_key": c["public_key"], "by": e.author,
                                  "at": e.created}


def _check_act(view: AgreementView, e: Entry, what: str) -> None:
    if e.authority != "head" or e.role != "head":
        raise ProtocolError(f"only a head of delegation may {what}")
    if view.finalized is None:
        raise ProtocolError(f"cannot {what} before the text is finalized")
    if e.content["text_sha256"] != view.finalized["sha256"]:
        raise ProtocolError(f"{what}: a signature over a different text than the finalized one")


def _verify_sshsig(armored: Any, text: str, namespace: str, public_key_b64: Any) -> None:
    if not isinstance(armored, str) or not isinstance(public_key_b64, str):
        raise InputError("a signature and its public key are required")
    sshsig_verify(armored, text.encode("utf-8"), namespace, load_public_key(public_key_b64))


def check_publication(content: Any, heads_by_party: Mapping[str, Mapping[str, str]]) -> None:
    """Validate a publication event (the relay runs this): every party signed and consented.

    ``heads_by_party`` maps each party in the negotiation to {device key id: signing key} of its
    current heads of delegation.

    Raises:
        ProtocolError: a party's signature or release consent is missing or not by one of its heads.
        SignatureError / InputError: a signature does not verify or the content is malformed.
    """
    if not isinstance(content, Mapping):
        raise InputError("publication content must be an object")
    for key in ("agreement_id", "title", "text", "signatures", "consents"):
        if key not in content:
            raise InputError(f"publication lacks '{key}'")
    text = content["text"]
    if not isinstance(text, str) or not text:
        raise InputError("publication text must be the canonical agreement text")
    for kind, namespace in (("signatures", AGREEMENT_NAMESPACE), ("consents", RELEASE_NAMESPACE)):
        given = content[kind]
        if not isinstance(given, Mapping):
            raise InputError(f"publication {kind} must be an object")
        for party_id, heads in heads_by_party.items():
            item = given.get(party_id)
            if not isinstance(item, Mapping):
                raise ProtocolError(f"publication before every party signed and consented: {kind} of a party missing")
            if item.get("public_key") not in heads.values():
                raise ProtocolError(f"publication {kind}: not made by a head of delegation of that party")
            _verify_sshsig(item.get("signature"), text, namespace, item.get("public_key"))
