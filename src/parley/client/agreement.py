"""The agreement on the client: the single negotiating text, objections, finalize, sign, release, publish.

The text is sealed until every party has signed: no export, no PDF, no
publication bundle before then, and every view says so.
"""

from __future__ import annotations

import base64
import difflib
import shutil
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from parley.client.acts import act
from parley.client.offline import staged_act
from parley.client.sync import Posted
from parley.client.workflow import Negotiation
from parley.crypto.sshsig import sshsig_sign
from parley.errors import ForbiddenError, InputError, NotFoundError, ProtocolError
from parley.protocol import agreement as ag
from parley.protocol.events import Envelope
from parley.protocol.languages import DEFAULT_LANGUAGE
from parley.protocol.public_bodies import Publication, decode_public
from parley.protocol.state import PUBLICATION
from parley.protocol.times import check_deadline, format_time
from parley.protocol.views import plain


class AgreementDesk:
    """Agreement actions of one member in one negotiation."""

    def __init__(self, negotiation: Negotiation) -> None:
        self.negotiation = negotiation
        self.client = negotiation.client

    # ---- views ------------------------------------------------------------------------------------
    def views(self) -> tuple[dict[str, ag.AgreementView], list[str]]:
        from parley.tracing import unmark

        return ag.derive_agreements(self.negotiation.entries(ag.AGREEMENT_TYPES), self.negotiation.id, unmark=unmark)

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
        signed_by_all = view.finalized is not None and set(parties) <= set(view.signatures)
        return {
            "agreement_id": agreement_id, "title": view.latest.title, "version": view.latest.version,
            "state": view.seal_state(parties), "mediator": names.get(view.mediator, view.mediator),
            "text_sha256": view.latest.sha256, "finalized": plain(view.finalized),
            "articles": [{**a, "text": text,
                          "status": "agreed" if signed_by_all and not a["objected_by"] else a["status"],
                          "objected_by": [names.get(p, p) for p in a["objected_by"]]}
                         for a, text in zip(view.article_status(), [t.text for t in view.latest.articles],
                                            strict=True)],
            "languages": view.latest.languages, "prevailing": view.latest.prevailing,
            "authenticity": view.latest.authenticity,
            "articles_by_language": {
                code: [{**a, "status": "agreed" if signed_by_all and not a["objected_by"] else a["status"],
                        "objected_by": [names.get(p, p) for p in a["objected_by"]]}
                       for a in view.article_status(code)] for code in view.latest.languages},
            "signed_by": sorted(names.get(p, p) for p in view.signatures),
            "awaiting_signature": sorted(names.get(p, p) for p in parties if p not in view.signatures),
            "consented": sorted(names.get(p, p) for p in view.consents),
            "copy": view.latest.copy,
            # this reader's own wording of a draft (leak tracing); the SHA-256 is the canonical text's
            "worded": bool(view.latest.worded),
            # a draft's stamped PDF annex: the canonical file's size and SHA-256, and this reader's own copy's
            "annexes": [{"attachment_id": a.attachment_id, "name": a.name, "size": a.size, "sha256": a.sha256,
                         **({"copy": plain(own)} if (own := (view.latest.annex_copies or {}).get(
                             a.attachment_id)) else {})}
                        for a in view.latest.annexes],
            "violations": list(view.violations),
        }

    def list(self) -> list[dict[str, Any]]:
        """Every agreement this member can read, with its state (from the local copy)."""
        names = self.negotiation.party_names()
        parties = self.parties()
        return [{"agreement_id": agreement_id, "title": view.latest.title, "version": view.latest.version,
                 "state": view.seal_state(parties), "signed_by": sorted(names.get(p, p) for p in view.signatures)}
                for agreement_id, view in self.views()[0].items() if view.latest is not None]

    # ---- actions ----------------------------------------------------------------------------------
    @act
    def post_text(self, agreement_id: str, title: str, articles: Sequence[Mapping[str, str]], *,
                  tracing: bool = True, language: str | None = None,
                  translations: Mapping[str, Mapping[str, Any]] | None = None, prevailing: str | None = None,
                  annexes: Sequence[Path] | None = None, vetoed_variants: Sequence[int] = (),
                  annex_marks: bool = True) -> int:
        """Post the next version of the single negotiating text (mediator's party only).

        ``articles`` are ``{"heading", "text"}`` in order. Returns the version number. ``translations`` maps
        other languages to their ``{"title", "articles"}`` (the same articles, in the same order): the version
        then holds one text per language, ``language`` naming the first (default ``en``), each equally
        authentic unless ``prevailing`` names the one that prevails.

        ``annexes``: the files annexed to this version (each streamed, encrypted, into the log first; the version
        lists them by name, size and SHA-256, which heads sign with the text). None keeps the previous version's
        annexes; an empty list annexes nothing. With ``tracing``, a PDF annex reaches each reader of the draft as
        its own stamped copy (copy line and image mark, as memoranda's annexes; ``annex_marks=False``: the copy
        line only), the mediator's heads and this device the canonical bytes the version names; finalize hands
        the canonical bytes to every party. Other files reach every reader as the same bytes.

        With ``tracing`` each reader's copy is worded for that reader (``{a|b}`` alternatives written in the
        text, automatic variants of English), from one code per agreement (docs/tracing.md), less the variants
        ``vetoed_variants`` numbers as ``variant_preview`` lists them and those vetoed in an earlier version.

        Raises:
            ForbiddenError: another party is the mediator, or (tracing) earlier versions were traced and this
                device does not hold the agreement's tracing key.  InputError: empty or malformed text (a malformed
                ``{a|b}`` too), a vetoed number that names no variant (or vetoes without tracing), an annex that
                is not a file, over the size limit (with tracing, a PDF over ``Limits.max_stamped_pdf_bytes``, or
                encrypted or unreadable), or two annexes with one name.  NotFoundError: kept stamped annexes
                whose canonical bytes this device does not hold.
        """
        if vetoed_variants and not tracing:
            raise InputError("vetoing variants needs tracing: without it every reader reads the same words")
        existing, content = self._next_version(agreement_id, title, articles, language, translations, prevailing)
        version = content["version"]
        parties = self.parties()
        kept = plain(existing.latest.annexes) if annexes is None and existing and existing.latest else []
        with ExitStack() as stack:
            files: list[Path | dict[str, Any]] | None = None if annexes is None else [Path(p) for p in annexes]
            if files is None and any(a.get("stamped") for a in kept):
                # Stamped copies are per version: the kept PDF annexes are stamped (or sent plain) again from the
                # canonical bytes this device holds; the other kept annexes stay as they are.
                files = self._canonical_annex_files(existing.latest, Path(stack.enter_context(TemporaryDirectory())))
            if files is not None:
                self._check_annex_files([f for f in files if isinstance(f, Path)], stamped=tracing)
            # New annex files: their chunk events and the version that lists them are one staged act (all or none).
            if files:
                stack.enter_context(staged_act(self.client))
            content["annexes"] = kept if files is None else []
            copies = None
            if tracing:
                copies = self._traced_copies(agreement_id, version, content, parties, existing, vetoed_variants,
                                             annex_files=files, annex_marks=annex_marks)
            elif files:
                # Untraced, annex files reach every reader as the same bytes: the digest is what heads sign.
                content["annexes"] = [self.negotiation._post_attachment(f, parties) if isinstance(f, Path) else f
                                      for f in files]
            if not content["annexes"]:
                del content["annexes"]
            ag.check_agreement_content(ag.TEXT, content)
            self.client.post(self.negotiation.id, ag.TEXT, content, parties=parties, copies=copies)
        return version

    def variant_preview(self, agreement_id: str, title: str, articles: Sequence[Mapping[str, str]], *,
                        language: str | None = None, translations: Mapping[str, Mapping[str, Any]] | None = None,
                        prevailing: str | None = None, vetoed: Sequence[int] = ()) -> list[str]:
        """The wording variants the readers' copies of this version would differ by, numbered (across every article
        and language) for ``post_text(..., vetoed_variants=...)``, as the memoranda's preview lists them; the
        ``vetoed`` ones, and passages vetoed in an earlier version, are listed as vetoed. Nothing is posted.

        Raises:
            ForbiddenError: another party is the mediator.  InputError: the text could not be posted as it is
                (see ``post_text``), or a vetoed number names no variant.
        """
        from parley.client.tracing import agreement_vetoes, draft_variant_preview

        _, content = self._next_version(agreement_id, title, articles, language, translations, prevailing)
        return draft_variant_preview(self._sources(content), vetoed,
                                     agreement_vetoes(self.negotiation.tracing_secrets(), agreement_id))

    def _next_version(self, agreement_id: str, title: str, articles: Sequence[Mapping[str, str]],
                      language: str | None, translations: Mapping[str, Mapping[str, Any]] | None,
                      prevailing: str | None) -> tuple[ag.AgreementView | None, dict[str, Any]]:
        """The agreement as it stands (after a verified sync) and the content of its next version (no annexes).

        Raises:
            ForbiddenError: another party is the mediator.  InputError: finalized, or an empty or malformed text.
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
        content: dict[str, Any] = {"agreement_id": agreement_id, "version": version, "title": title,
                                   "articles": numbered}
        if translations or language is not None or prevailing is not None:
            content["languages"] = [language or DEFAULT_LANGUAGE, *(translations or {})]
            content["texts"] = {code: {"title": other.get("title"),
                                       "articles": [{"number": i, "heading": a.get("heading"), "text": a.get("text")}
                                                    for i, a in enumerate(other.get("articles") or [], 1)]}
                                for code, other in (translations or {}).items()}
            content["prevailing"] = prevailing
        ag.check_agreement_content(ag.TEXT, content)
        return existing, content

    @staticmethod
    def _sources(content: Mapping[str, Any]) -> dict[str, list[str]]:
        """language -> the texts of a version's articles (first language first), as the author wrote them."""
        languages = content.get("languages") or [DEFAULT_LANGUAGE]
        return {languages[0]: [a["text"] for a in content["articles"]],
                **{code: [a["text"] for a in content["texts"][code]["articles"]] for code in languages[1:]}}

    def _traced_copies(self, agreement_id: str, version: int, content: dict[str, Any], parties: Sequence[str],
                       existing: ag.AgreementView | None, vetoed: Sequence[int] = (), *,
                       annex_files: Sequence[Path | dict[str, Any]] | None = None, annex_marks: bool = True) -> Any:
        """Each reader's copy of a version: its own wording of every article, in every language, from the
        agreement's one code (slots placed by their context, so a passage unchanged between versions reads
        alike in one reader's copies), and its visible copy line. Every copy names the canonical text's SHA-256
        in each language, which finalize, signatures and the redline of the mediator's heads work on; the
        tracing key and the traced texts go to the mediator's heads and this device (``tracing_holders``),
        whose copies hold the canonical text (docs/tracing.md).

        ``content`` is changed in place to the canonical text (the author's ``{a|b}`` resolved). ``vetoed``: the
        variants left out, numbered as ``variant_preview`` lists them; so are the passages vetoed in an earlier
        version (their context ids are in the earlier versions' tracing records).

        ``annex_files`` (None: ``content["annexes"]`` stays): posted here, each PDF as one stamped copy per reader
        (its copy line and, with ``annex_marks``, its image mark under the agreement's tracing key), the canonical
        bytes to the holders (an annex already posted, given by its listing, stays as it is);
        ``content["annexes"]`` names the canonical ones, each reader's copy its own too.

        Raises:
            ForbiddenError: earlier versions were traced and this device does not hold the agreement's key.
            InputError: a malformed ``{a|b}`` alternative, or a vetoed number that names no variant.
        """
        from parley.client.tracing import (
            agreement_secret,
            agreement_vetoes,
            draft_secret_content,
            is_pdf,
            prepare_draft_copies,
            tracing_holders,
        )
        from parley.tracing import visible_mark

        now = self.client.clock()
        readers = self.client.state(self.negotiation.id).current_members(now, parties)
        own_device = self.client.identity.device_key_id
        holders = tracing_holders(readers, self.negotiation.own_party, own_device)
        records = self.negotiation.tracing_secrets()
        secret = agreement_secret(records, agreement_id)
        if secret is None and existing is not None and any(v.canonical_sha256 is not None for v in existing.versions):
            raise ForbiddenError(f"the tracing key of '{agreement_id}' is held by the mediator's heads of delegation "
                                 "and the device that posted its first traced version: post from one of them",
                                 hint="or post this version with tracing off (--no-tracing)")
        languages = content.get("languages") or [DEFAULT_LANGUAGE]
        traced = prepare_draft_copies(agreement_id, self._sources(content), holders, secret=secret,
                                      n_readers=len(readers), vetoed=vetoed,
                                      earlier_vetoes=agreement_vetoes(records, agreement_id))

        def worded(articles: list[dict[str, Any]], texts: list[str]) -> list[dict[str, Any]]:
            return [{**a, "text": text} for a, text in zip(articles, texts, strict=True)]

        # the canonical text, one for all: what every copy names the SHA-256 of
        canonical = {code: draft.canonical for code, draft in traced.drafts.items()}
        content["articles"] = worded(content["articles"], canonical[languages[0]])
        for code in languages[1:]:
            content["texts"][code] = {**content["texts"][code],
                                      "articles": worded(content["texts"][code]["articles"], canonical[code])}
        claims = {code: fields["sha256"] for code, fields in ag.language_texts(content).items()}
        names = self.negotiation.party_names()
        numbers = {cert.device_key_id: number for number, cert in enumerate(readers, start=1)}
        recipients = {cert.device_key_id: {"member": cert.member, "party": names.get(cert.party_id, cert.party_id),
                                           "copy_no": numbers[cert.device_key_id]} for cert in readers}
        record = draft_secret_content(version, traced, recipients)
        stamped: list[dict[str | None, dict[str, Any]]] = []
        if annex_files is not None:
            visible = {cert.device_key_id: visible_mark(cert.member, names.get(cert.party_id, cert.party_id), now,
                                                        numbers[cert.device_key_id])
                       for cert in readers if cert.device_key_id not in holders}
            content["annexes"] = []
            for path in annex_files:
                if not isinstance(path, Path):
                    content["annexes"].append(path)
                elif is_pdf(path):
                    metas = self.negotiation._post_stamped_attachment(path, parties, visible,
                                                                      traced.secret if annex_marks else None)
                    stamped.append(metas)
                    content["annexes"].append({**metas[None], "stamped": True})
                else:
                    content["annexes"].append(self.negotiation._post_attachment(path, parties))

        def copies(cert):  # noqa: ANN001, ANN202
            number = numbers.setdefault(cert.device_key_id, len(numbers) + 1)
            mine = traced.articles(cert.device_key_id)
            out = {**content, "articles": worded(content["articles"], mine[languages[0]]),
                   "canonical_sha256": claims,
                   "copy": visible_mark(cert.member, names.get(cert.party_id, cert.party_id), now, number)}
            own = {metas[None]["attachment_id"]: {"size": metas[cert.device_key_id]["size"],
                                                  "sha256": metas[cert.device_key_id]["sha256"]}
                   for metas in stamped if cert.device_key_id in metas}
            if own:
                out["annex_copies"] = own  # the bytes this reader received; the version names the canonical ones
            if len(languages) > 1:
                out["texts"] = {code: {**content["texts"][code],
                                       "articles": worded(content["texts"][code]["articles"], mine[code])}
                                for code in languages[1:]}
            if cert.device_key_id in holders:
                out["tracing"] = record  # in the same event: never a secret without its text
            return out

        return copies

    def _check_annex_files(self, annexes: Sequence[Path], *, stamped: bool = False) -> None:
        """``stamped``: PDF annexes are to be stamped per reader (a traced version), as memoranda's are.

        Raises:
            InputError: not a file, over the limit, a name an annex cannot have or two annexes share, or (stamped)
                a PDF that is encrypted, unreadable or over ``Limits.max_stamped_pdf_bytes``.
        """
        from parley.client.tracing import check_stampable, is_pdf

        limit = self.client.limits.max_attachment_bytes
        names = set()
        for path in map(Path, annexes):
            if not path.is_file():
                raise InputError(f"annex {path} is not a file")
            if path.stat().st_size > limit:
                raise InputError(f"annex {path.name} is over the limit of {limit // (1024 * 1024)} MB")
            if stamped and is_pdf(path):
                check_stampable(path, self.client.limits.max_stamped_pdf_bytes,
                                hint="post this version without tracing (--no-tracing), or leave the PDF out")
            ag.check_annex_name(path.name)
            if path.name in names:
                raise InputError(f"two annexes are named {path.name}: rename one")
            names.add(path.name)

    def _canonical_annex_files(self, version: ag.AgreementVersion, folder: Path) -> list[Path | dict[str, Any]]:
        """A version's annexes: each stamped one written into ``folder`` as the canonical bytes the version names
        (checked against its size and SHA-256), readable so only on a device that received them (the mediator's
        heads and the posting device); the others (one file for every reader) as the version lists them.

        Raises:
            NotFoundError: this device received its own stamped copy of an annex, not the canonical bytes.
            VerificationError: the bytes held do not match what the version names.
        """
        out = []
        for annex in version.annexes:
            if not annex.stamped:
                out.append(plain(annex))
                continue
            if annex.attachment_id in (version.annex_copies or {}):
                raise NotFoundError(f"the canonical bytes of annex {annex.name} are held by the mediator's heads "
                                    "of delegation and the device that posted the version: act from one of them")
            out.append(self.negotiation.save_attachment(annex.attachment_id,
                                                        folder / ag.check_annex_name(annex.name)))
        return out

    def check_annex_bytes(self, agreement_id: str) -> None:
        """Check that the annex bytes of the finalized version this device holds are those its signed document
        names (size and SHA-256), as finalize handed them to every party; nothing is kept.

        Raises:
            ProtocolError: not finalized.  VerificationError: missing bytes, or bytes other than those named.
        """
        view = self.view(agreement_id)
        if view.finalized is None:
            raise ProtocolError("the text is not finalized yet")
        with TemporaryDirectory() as folder:
            for index, annex in enumerate(view.finalized_version().annexes):
                self.negotiation.save_attachment(annex.attachment_id, Path(folder) / f"{index}.annex")

    @act
    def object(self, agreement_id: str, article: int, text: str, kind: str = "objection",
               language: str | None = None) -> Posted:
        """Object to (or comment on, or withdraw an objection to) an article of the latest version; with
        ``language``, to that language's text of the article only.

        Raises:
            InputError: no such article, or no text in that language.
        """
        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        if not any(a.number == article for a in view.latest.articles):
            raise InputError(f"the text has no article {article}")
        if language is not None and language not in view.latest.languages:
            raise InputError(f"version {view.latest.version} has no {language} text "
                             f"(it has {', '.join(view.latest.languages)})")
        content = {"agreement_id": agreement_id, "version": view.latest.version, "article": article,
                   "kind": kind, "text": text, **({"language": language} if language else {})}
        ag.check_agreement_content(ag.OBJECTION, content)
        return self.client.post(self.negotiation.id, ag.OBJECTION, content, parties=self.parties())

    @act
    def finalize(self, agreement_id: str, *, override: bool = False, reason: str | None = None,
                 sign_by: datetime | None = None) -> str:
        """Freeze the latest version; returns its SHA-256. ``sign_by``: the deadline for every party's signature.
        A version delivered in per-reader wording or with stamped PDF annexes: finalize hands every party its
        canonical text and annex bytes.

        Raises:
            ForbiddenError: not the mediator's head.  ProtocolError: open objections without override.
            InputError: an override without a reason, a ``sign_by`` already past.  NotFoundError: this device
                does not hold the canonical text or annex bytes.  VerificationError: the annex bytes it holds
                are not those the version names.
        """
        deadline = None if sign_by is None else format_time(sign_by)
        check_deadline(deadline, now=self.client.clock(), what="sign-by deadline")
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
        canonical = (self._canonical_content(agreement_id, view.latest) if view.latest.canonical_sha256 is not None
                     else None)
        with ExitStack() as stack:
            revealed = None
            if any(a.stamped for a in view.latest.annexes):
                # Each reader holds its own stamped copy of the PDF annexes: the canonical bytes (checked against
                # the digests the version names) go to every party with the finalize, one staged act.
                files = self._canonical_annex_files(view.latest, Path(stack.enter_context(TemporaryDirectory())))
                stack.enter_context(staged_act(self.client))
                revealed = [self.negotiation._post_attachment(f, self.parties()) if isinstance(f, Path) else f
                            for f in files]
            self.client.post(self.negotiation.id, ag.FINALIZE,
                             {"agreement_id": agreement_id, "text_sha256": view.latest.sha256,
                              "override": override, "reason": reason, **({"sign_by": deadline} if deadline else {}),
                              **({"canonical": canonical} if canonical else {}),
                              **({"annexes": revealed} if revealed is not None else {})},
                             parties=self.parties(), authority="head")
        return view.latest.sha256

    def _canonical_content(self, agreement_id: str, version: ag.AgreementVersion) -> dict[str, Any]:
        """The canonical text of a version delivered in per-reader wording, as finalize reveals it to every party:
        this device's own copy when it holds the canonical text (a tracing holder), else the tracing record.

        Raises:
            NotFoundError: this device holds neither (only the mediator's heads and the posting device do).
        """
        languages = version.languages
        texts: dict[str, list[str]] | None = None
        if not version.worded:
            texts = {code: [a.text for a in version.texts[code].articles] for code in languages}
        else:
            from parley.tracing import DraftText

            for record in self.negotiation.tracing_secrets():
                if (record.agreement_id, record.version) == (agreement_id, version.version) \
                        and record.drafts is not None:
                    texts = {code: DraftText.from_json(d).canonical for code, d in record.drafts.items()}
        if texts is None or set(texts) != set(languages):
            raise NotFoundError(f"the canonical text of version {version.version} is held by the mediator's heads "
                                "of delegation and the device that posted it: finalize from one of them")

        def fields(code: str) -> dict[str, Any]:
            return {"title": version.texts[code].title,
                    "articles": [{**plain(a), "text": text} for a, text in zip(version.texts[code].articles,
                                                                       texts[code], strict=True)]}

        return {**fields(languages[0]), **({"texts": {code: fields(code) for code in languages[1:]}}
                                            if len(languages) > 1 else {})}

    def sign(self, agreement_id: str, *, expected_sha256: str | None = None) -> Posted:
        """Sign the finalized text's signed document (it names this negotiation, the agreement, the version and
        the text's SHA-256) with SSHSIG (heads only).

        ``expected_sha256``: the digest of the text the signer was shown; any other text is refused.

        Raises:
            ProtocolError: not finalized, or the finalized text is not the one shown.  VerificationError: the annex
                bytes finalize handed this party are not those the signed document names (nothing is signed).
        """
        if expected_sha256 is not None:
            finalized = self.view(agreement_id).finalized
            if finalized is None:
                raise ProtocolError("the text is not finalized yet")
            if finalized.sha256 != expected_sha256:
                raise ProtocolError("the finalized text is not the one you were shown: nothing was signed")
        return self._signed_act(agreement_id, ag.SIGN, ag.SIGN_NAMESPACE, "signature")

    @act
    def consent_to_release(self, agreement_id: str) -> Posted:
        """Consent to release (heads only; after every party signed)."""
        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        if not set(self.parties()) <= set(view.signatures):
            raise ProtocolError("release consent before every party signed: the agreement stays sealed")
        return self._signed_act(agreement_id, ag.RELEASE, ag.RELEASE_NAMESPACE, "consent")

    @act
    def _signed_act(self, agreement_id: str, event_type: str, namespace: str, field: str) -> Posted:
        self._require_head()
        self.negotiation.fresh_views()
        view = self.view(agreement_id)
        if view.finalized is None:
            raise ProtocolError("the text is not finalized yet")
        if event_type == ag.SIGN:
            self.check_annex_bytes(agreement_id)  # the annexes signed are the bytes this party holds
        document = view.document(self.negotiation.id)
        signing = self.client.identity.signing
        # No key travels with the act: every client checks it under this device's certified key.
        content = {"agreement_id": agreement_id, "text_sha256": view.finalized.sha256,
                   "version": view.finalized.version,
                   field: sshsig_sign(signing.private, document.encode("utf-8"), namespace)}
        if event_type == ag.SIGN and len(view.languages()) > 1:
            # Every language's text is authentic: the head signs each one's signed document.
            content["signatures"] = {
                code: sshsig_sign(signing.private, view.document(self.negotiation.id, code).encode("utf-8"),
                                  namespace) for code in view.languages()[1:]}
        return self.client.post(self.negotiation.id, event_type, content, parties=self.parties(), authority="head")

    @act
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
            "agreement_id": view.agreement_id, "title": view.latest.title, "version": view.finalized.version,
            "text": view.latest.text, "text_sha256": view.latest.sha256,
            "document": view.document(self.negotiation.id),
            "signatures": {p: {"signature": s.signature, "device": s.device, "public_key": s.public_key,
                               "party": names.get(p, p), "member": s.by,
                               **({"languages": dict(s.languages)} if s.languages else {})}
                           for p, s in view.signatures.items()},
            "consents": {p: {"signature": c.consent, "device": c.device, "public_key": c.public_key,
                             "party": names.get(p, p), "member": c.by} for p, c in view.consents.items()},
            "signers_devices": {p: member(s.by) for p, s in view.signatures.items()},
            **self._languages_of_publication(view),
            **({"annexes": annexes} if (annexes := ag.public_annexes(view.finalized_version().annexes)) else {}),
        }

    def _languages_of_publication(self, view: ag.AgreementView) -> dict[str, Any]:
        """For a text in several languages: the languages, the prevailing one, each other language's text and
        signed document, and every head's signature of each (the relay checks them all)."""
        languages = view.languages()
        if len(languages) == 1:
            return {}
        finalized = view.finalized_version()
        return {"languages": languages, "prevailing": finalized.prevailing,
                "texts": {code: {"title": finalized.texts[code].title, "text": finalized.texts[code].text,
                                 "document": view.document(self.negotiation.id, code)} for code in languages[1:]}}

    def redline(self, agreement_id: str, old: int, new: int, language: str | None = None) -> str:
        """The changes between two versions, in one language (default: the first language of the new version).

        Raises:
            NotFoundError: an unknown version, or a version without a text in that language.
        """
        versions = {v.version: v for v in self.view(agreement_id).versions}
        if old not in versions or new not in versions:
            raise NotFoundError(f"no version {old} or {new}")
        language = language or versions[new].languages[0]
        texts = []
        for number in (old, new):
            text = versions[number].texts.get(language)
            if text is None:
                raise NotFoundError(f"version {number} has no {language} text "
                                    f"(it has {', '.join(versions[number].languages)})")
            # a finalized version delivered in per-reader wording is compared in this reader's wording, as his
            # other versions are: the redline shows the edits, not the variants (docs/tracing.md)
            texts.append((versions[number].copy_texts or {}).get(language, text.text))
        suffix = "" if len(versions[new].languages) == 1 else f" ({language})"
        return "\n".join(difflib.unified_diff(texts[0].splitlines(), texts[1].splitlines(),
                                              fromfile=f"version {old}{suffix}", tofile=f"version {new}{suffix}",
                                              lineterm=""))

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
        """Write the publication bundle (folder and zip, the signed PDF in both) of a published agreement.

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
            if body is not None and body["type"] == PUBLICATION:
                published = decode_public(PUBLICATION, body["content"])
                if isinstance(published, Publication) and published.agreement_id == agreement_id:
                    publication = (seq, env, published)
        if publication is None:
            raise ProtocolError("the agreement is released but not published yet: run 'parley agreement publish'")
        size, _, note = self.client.cache.checkpoint(negotiation_id)
        by_seq = {seq: env for seq, env, _, _ in events}

        def leaf(seq: int) -> dict[str, Any]:
            envelope = Envelope.from_obj(by_seq[seq])
            proof = self.client.conn.get(f"/v1/negotiations/{negotiation_id}/proof/inclusion", index=seq, size=size)
            item = {"seq": seq, "leaf": base64.b64encode(envelope.leaf_bytes()).decode(),
                    "inclusion_proof": proof["proof"]}
            if envelope.header.tags is not None:  # the leaf is the hidden entry: the header shows what it commits
                item["event"] = {"header": envelope.header.to_obj(), "signature": envelope.signature}
            return item

        leaves = {"publication": leaf(publication[0])}
        for party_id, signature in view.signatures.items():
            leaves[f"sign:{party_id}"] = leaf(signature.seq)
        # The parties' cosignatures of a log that holds every one of those events (see docs/tlog.md). Writing
        # the bundle is a deliberate act: this party cosigns the checkpoint it bundles, if it has not yet.
        from parley.client.witness import cosign, witness_evidence

        cosign(self.client, negotiation_id, sync=False)
        witnesses = witness_evidence(self.client, negotiation_id,
                                     from_size=max(item["seq"] for item in leaves.values()) + 1)
        archive = write_bundle(Path(out), publication=publication[2], negotiation_id=negotiation_id,
                               relay_vkey=self.client.profile.relay_vkey, checkpoint_note=note,
                               checkpoint_size=size, leaves=leaves, witnesses=witnesses)
        # The annex files, each checked against the size and SHA-256 the signed version lists.
        for annex in view.finalized_version().annexes:
            folder = Path(out) / "annexes"
            folder.mkdir(exist_ok=True)
            self.negotiation.save_attachment(annex.attachment_id, folder / ag.check_annex_name(annex.name))
        # The zip holds what the folder holds: the PDF too.
        self.pdf(agreement_id, Path(out) / "agreement.pdf")
        archive.unlink()
        return Path(shutil.make_archive(str(archive.with_suffix("")), "zip", root_dir=out))

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
            signers.append({"party": names.get(party_id, party_id), "member": signature.by, "at": signature.at,
                            "party_fingerprint": fingerprint_digits(state.parties[party_id].record.root_key),
                            "key_fingerprint": fingerprint_digits(signature.public_key)})
        path = Path(out)
        agreement_pdf(path, title=view.latest.title, articles=plain(view.latest.articles),
                      text_sha256=view.latest.sha256, signers=signers, copy_line=view.latest.copy)
        return path

    def _require_head(self) -> None:
        if self.client.profile.role != "head":
            raise ForbiddenError("only a head of delegation can do this")
