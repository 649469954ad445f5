"""The agreement on the client: the single negotiating text, objections, finalize, sign, release, publish.

The text is sealed until every party has signed: no export, no PDF, no
publication bundle before then, and every view says so.
"""

from __future__ import annotations

import base64
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parley.client.sdk import Posted
from parley.client.workflow import Negotiation
from parley.crypto.sshsig import AGREEMENT_NAMESPACE, sshsig_sign
from parley.errors import ForbiddenError, InputError, NotFoundError, ProtocolError
from parley.protocol import agreement as ag
from parley.protocol.events import Envelope
from parley.protocol.state import PUBLICATION


class AgreementDesk:
    """Agreement actions of one member in one negotiation."""

    def __init__(self, negotiation: Negotiation) -> None:
        self.negotiation = negotiation
        self.client = negotiation.client

    # ---- views ------------------------------------------------------------------------------------
    def views(self) -> tuple[dict[str, ag.AgreementView], list[str]]:
        return ag.derive_agreements(self.negotiation.entries(ag.AGREEMENT_TYPES))

    def view(self, agreement_id: str) -> ag.AgreementView:
        """Raises: NotFoundError when this member cannot read such an agreement."""
        found = self.views()[0].get(agreement_id)
        if found is None or found.latest is None:
            raise NotFoundError(f"no agreement '{agreement_id}' that you can read")
        return found

    def parties(self) -> list[str]:
        return self.client.state(self.negotiation.id).joined_parties()

    def summary(self, agreement_id: str) -> dict[str, Any]:
        """The agreement's state after a verified sync."""
        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        names = self.negotiation.party_names()
        parties = self.parties()
        return {
            "agreement_id": agreement_id, "title": view.latest["title"], "version": view.latest["version"],
            "state": view.seal_state(parties), "mediator": names.get(view.mediator, view.mediator),
            "text_sha256": view.latest["sha256"], "finalized": view.finalized,
            "articles": [{**a, "objected_by": [names.get(p, p) for p in a["objected_by"]]} for a in view.article_status()],
            "signed_by": sorted(names.get(p, p) for p in view.signatures),
            "awaiting_signature": sorted(names.get(p, p) for p in parties if p not in view.signatures),
            "consented": sorted(names.get(p, p) for p in view.consents),
            "copy": view.latest.get("copy"),
        }

    # ---- actions ----------------------------------------------------------------------------------
    def post_text(self, agreement_id: str, title: str, articles: Sequence[Mapping[str, str]], *,
                  tracing: bool = True) -> int:
        """Post the next version of the single negotiating text (mediator's party only).

        ``articles`` are ``{"heading", "text"}`` in order. Returns the version number.

        Raises:
            ForbiddenError: another party is the mediator.  InputError: empty or malformed text.
        """
        self.negotiation.fresh_views()
        existing = self.views()[0].get(agreement_id)
        own = self.negotiation.own_party
        if existing is not None and existing.mediator not in (None, own):
            raise ForbiddenError("only the mediator's party posts versions of the single negotiating text")
        if existing is not None and existing.finalized is not None:
            raise InputError("the text is finalized; no further versions")
        numbered = [{"number": i, "heading": a["heading"], "text": a["text"]} for i, a in enumerate(articles, 1)]
        version = 1 if existing is None else len(existing.versions) + 1
        content = {"agreement_id": agreement_id, "version": version, "title": title, "articles": numbered}
        ag.check_agreement_content(ag.TEXT, content)
        parties = self.parties()
        copies = None
        if tracing:
            from parley.client.tracing import TRACING_SECRET, prepare_copies, secret_content

            now = self.client.clock()
            readers = self.client.state(self.negotiation.id).current_members(now, parties)
            traced = prepare_copies({str(a["number"]): a["text"] for a in numbered}, readers,
                                    self.negotiation.party_names(), now)
            self.client.post(self.negotiation.id, TRACING_SECRET,
                             secret_content(f"{agreement_id}-v{version}", version, traced), parties=[own])

            def copies(cert):  # noqa: ANN001, ANN202
                marked = traced.copies[cert.device_key_id]
                return {**content, "articles": [{**a, "text": marked[str(a["number"])]} for a in numbered],
                        "copy": traced.visible[cert.device_key_id]}

        self.client.post(self.negotiation.id, ag.TEXT, content, parties=parties, copies=copies)
        return version

    def object(self, agreement_id: str, article: int, text: str, kind: str = "objection") -> Posted:
        """Object to (or comment on, or withdraw an objection to) an article of the latest version."""
        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        if not any(a["number"] == article for a in view.latest["articles"]):
            raise InputError(f"the text has no article {article}")
        content = {"agreement_id": agreement_id, "version": view.latest["version"], "article": article,
                   "kind": kind, "text": text}
        ag.check_agreement_content(ag.OBJECTION, content)
        return self.client.post(self.negotiation.id, ag.OBJECTION, content, parties=self.parties())

    def finalize(self, agreement_id: str, *, override: bool = False, reason: str | None = None) -> str:
        """Freeze the latest version; returns its SHA-256.

        Raises:
            ForbiddenError: not the mediator's head.  ProtocolError: open objections without override.
        """
        self._require_head()
        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        if view.mediator != self.negotiation.own_party:
            raise ForbiddenError("only the mediator finalizes the text")
        open_articles = [a["number"] for a in view.article_status() if a["status"] == "objected"]
        if open_articles and not override:
            raise ProtocolError(f"articles {open_articles} have open objections; finalize with an explicit override")
        if override and not reason:
            raise InputError("an override needs a reason, which the log records")
        self.client.post(self.negotiation.id, ag.FINALIZE,
                         {"agreement_id": agreement_id, "text_sha256": view.latest["sha256"], "override": override,
                          "reason": reason}, parties=self.parties(), authority="head")
        return view.latest["sha256"]

    def sign(self, agreement_id: str) -> Posted:
        """Sign the finalized canonical text with SSHSIG (heads only)."""
        return self._signed_act(agreement_id, ag.SIGN, AGREEMENT_NAMESPACE, "signature")

    def consent_to_release(self, agreement_id: str) -> Posted:
        """Consent to release (heads only; after every party signed)."""
        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        if not set(self.parties()) <= set(view.signatures):
            raise ProtocolError("release consent before every party signed: the agreement stays sealed")
        return self._signed_act(agreement_id, ag.RELEASE, ag.RELEASE_NAMESPACE, "consent")

    def _signed_act(self, agreement_id: str, event_type: str, namespace: str, field: str) -> Posted:
        self._require_head()
        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        if view.finalized is None:
            raise ProtocolError("the text is not finalized yet")
        text = view.latest["text"]
        signing = self.client.identity.signing
        content = {"agreement_id": agreement_id, "text_sha256": view.finalized["sha256"],
                   field: sshsig_sign(signing.private, text.encode("utf-8"), namespace),
                   "public_key": signing.public_b64}
        return self.client.post(self.negotiation.id, event_type, content, parties=self.parties(), authority="head")

    def publish(self, agreement_id: str) -> Posted:
        """Publish the released agreement in clear (the relay refuses it without every signature and consent)."""
        self._require_head()
        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        parties = self.parties()
        if view.seal_state(parties) != "released":
            raise ProtocolError(f"the agreement is {view.seal_state(parties)}: it cannot be published")
        content = self.publication_content(view)
        return self.client._post_public(self.negotiation.id, PUBLICATION, content, authority="head")

    def publication_content(self, view: ag.AgreementView) -> dict[str, Any]:
        names = self.negotiation.party_names()
        state = self.client.state(self.negotiation.id)

        def member(device: str) -> str:
            cert = state.members.get(device)
            return cert.member if cert else device

        return {
            "agreement_id": view.agreement_id, "title": view.latest["title"], "text": view.latest["text"],
            "text_sha256": view.latest["sha256"],
            "signatures": {p: {"signature": s["signature"], "public_key": s["public_key"], "party": names.get(p, p),
                               "member": s["by"]} for p, s in view.signatures.items()},
            "consents": {p: {"signature": c["consent"], "public_key": c["public_key"], "party": names.get(p, p),
                             "member": c["by"]} for p, c in view.consents.items()},
            "signers_devices": {p: member(s["by"]) for p, s in view.signatures.items()},
        }

    def redline(self, agreement_id: str, old: int, new: int) -> str:
        """Raises: NotFoundError for an unknown version."""
        versions = {v["version"]: v["text"] for v in self.view(agreement_id).versions}
        if old not in versions or new not in versions:
            raise NotFoundError(f"no version {old} or {new}")
        return "\n".join(difflib.unified_diff(versions[old].splitlines(), versions[new].splitlines(),
                                              fromfile=f"version {old}", tofile=f"version {new}", lineterm=""))

    def require_signed_by_all(self, agreement_id: str) -> ag.AgreementView:
        """The view, if every party signed; otherwise the agreement is sealed.

        Raises:
            ProtocolError: still sealed (no export, no PDF, no publication).
        """
        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        if view.finalized is None or not set(self.parties()) <= set(view.signatures):
            raise ProtocolError("the agreement is sealed until every party has signed it: no export, no PDF")
        return view

    def bundle(self, agreement_id: str, out) -> Path:  # noqa: ANN001
        """Write the publication bundle (folder and zip) of a published agreement.

        Raises:
            ProtocolError: not released and published yet (it stays sealed).
        """
        from parley.client.bundle import write_bundle

        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        if view.seal_state(self.parties()) != "released":
            raise ProtocolError(f"the agreement is {view.seal_state(self.parties())}: no publication bundle")
        negotiation_id = self.negotiation.id
        events = self.client.cache.events(negotiation_id)
        publication = None
        for seq, env, body, _ in events:
            if body is not None and body["type"] == PUBLICATION and body["content"].get("agreement_id") == agreement_id:
                publication = (seq, env, body["content"])
        if publication is None:
            raise ProtocolError("the agreement is released but not published yet: run 'parley agreement publish'")
        size, _, note = self.client.cache.checkpoint(negotiation_id)
        by_seq = {seq: env for seq, env, _, _ in events}

        def leaf(seq: int) -> dict[str, Any]:
            envelope = Envelope.from_obj(by_seq[seq])
            proof = self.client.conn.get(f"/v1/negotiations/{negotiation_id}/proof/inclusion", index=seq, size=size)
            return {"seq": seq, "leaf": base64.b64encode(envelope.leaf_bytes()).decode(),
                    "inclusion_proof": proof["proof"]}

        leaves = {"publication": leaf(publication[0])}
        for party_id, signature in view.signatures.items():
            leaves[f"sign:{party_id}"] = leaf(signature["seq"])
        return write_bundle(Path(out), publication=publication[2], negotiation_id=negotiation_id,
                            relay_vkey=self.client.profile.relay_vkey, checkpoint_note=note, checkpoint_size=size,
                            leaves=leaves)

    def pdf(self, agreement_id: str, out) -> Path:  # noqa: ANN001
        """The agreement as a PDF with its signature block (only once every party signed).

        Raises:
            ProtocolError: still sealed.
        """
        from parley.client.pdf import agreement_pdf
        from parley.crypto.fingerprint import fingerprint_digits

        view = self.require_signed_by_all(agreement_id)
        state = self.client.state(self.negotiation.id)
        names = self.negotiation.party_names()
        signers = []
        for party_id, signature in sorted(view.signatures.items(), key=lambda kv: names.get(kv[0], kv[0])):
            signers.append({"party": names.get(party_id, party_id), "member": signature["by"], "at": signature["at"],
                            "party_fingerprint": fingerprint_digits(state.parties[party_id].record.root_key),
                            "key_fingerprint": fingerprint_digits(signature["public_key"])})
        path = Path(out)
        agreement_pdf(path, title=view.latest["title"], articles=view.latest["articles"],
                      text_sha256=view.latest["sha256"], signers=signers, copy_line=view.latest.get("copy"))
        return path

    def _require_head(self) -> None:
        if self.client.profile.role != "head":
            raise ForbiddenError("only a head of delegation can do this")
