"""The agreement: single negotiating text, objections, finalize, signatures, release, publication.

Rules enforced here, by clients and (for publication) by the relay:
- versions of the text are posted by the mediator (the convening party's head);
- finalize freezes the SHA-256 of the canonical text, only when no article of the
  latest version has an open objection, unless the mediator records an override;
- what a head signs is the *signed document* (``signed_document``): a short header block
  naming the negotiation, the agreement, the finalized version and the text's SHA-256, then
  the canonical text. It is signed with SSHSIG (namespace ``agreement-v2@parley``), so a
  signature never counts for another negotiation, agreement, version or text;
- a signature or release consent counts only if it verifies under the certified signing key
  of the head device that posted it (``verify_head_act``, the one rule the client fold and the
  relay's publication check share): a key written inside an event means nothing;
- until every party has signed, the agreement is *sealed*;
- after all signatures, each head consents to release (SSHSIG over the same signed document,
  namespace ``release-v2@parley``); only with every consent can a publication event carry
  the text in clear, and the relay refuses one that lacks any signature or consent.

Signatures made before the header block existed (namespace ``agreement-v1@parley``, over the
bare text) are not counted by the fold: they are listed as violations naming the old format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from parley.crypto.keys import load_public_key
from parley.crypto.sshsig import sshsig_verify
from parley.errors import InputError, NotFoundError, ProtocolError, SignatureError
from parley.protocol.bodies import Annex, Article, Body, decode_content
from parley.protocol.languages import (
    DEFAULT_LANGUAGE,
    authenticity,
    check_language,
    check_languages,
    texts_by_language,
)
from parley.protocol.public_bodies import Publication, decode_public
from parley.protocol.times import check_deadline, parse_time
from parley.protocol.views import (
    AgreementVersion,
    AnnexCopy,
    ConsentView,
    FinalizedView,
    LanguageText,
    ObjectionView,
    SignatureView,
)
from parley.protocol.workflow import Entry

#: what a head signs and what it consents to release: the signed document, in two namespaces
SIGN_NAMESPACE = "agreement-v2@parley"
RELEASE_NAMESPACE = "release-v2@parley"
#: the namespaces of signatures over the bare text (bundle format 1), verified for old bundles only
LEGACY_SIGN_NAMESPACE = "agreement-v1@parley"
LEGACY_RELEASE_NAMESPACE = "release-v1@parley"
SIGNED_DOCUMENT_FORMAT = "Signed agreement document, parley format 2"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
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


def _identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not set(value) <= _ID_CHARS:
        raise InputError(f"{what} must be an identifier (letters, digits, - _ .)")
    return value


#: the most annexes one version lists; longest annex file name
MAX_ANNEXES = 100
MAX_ANNEX_NAME = 200


def check_annex_name(name: Any) -> str:
    """An annex's file name: what the bundle writes it as (``annexes/<name>``) and its ``Annex:`` line names.

    Raises:
        InputError: empty, too long, a path (``/``, ``\\``), hidden (leading dot), or with control characters.
    """
    if (not isinstance(name, str) or not name.strip() or len(name) > MAX_ANNEX_NAME or "/" in name or "\\" in name
            or name.startswith(".") or name != name.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)):
        raise InputError(f"an annex is named by a plain file name (no folder, no leading dot, at most "
                         f"{MAX_ANNEX_NAME} characters): {name!r}")
    return name


def check_annexes(annexes: Any) -> list[dict[str, Any]]:
    """The annex list of a text version: ``[{"name", "size", "sha256", ...}]``, names unique.

    Raises:
        InputError: not a list, too many, a bad name, size or SHA-256, or a name given twice.
    """
    if annexes is None:
        return []
    if not isinstance(annexes, list) or len(annexes) > MAX_ANNEXES:
        raise InputError(f"annexes are a list of at most {MAX_ANNEXES} files")
    names = set()
    for annex in annexes:
        if not isinstance(annex, Mapping):
            raise InputError("an annex is named by its file name, size and SHA-256")
        name = check_annex_name(annex.get("name"))
        size, digest = annex.get("size"), annex.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InputError(f"annex {name}: the size is a number of bytes")
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= set("0123456789abcdef"):
            raise InputError(f"annex {name}: the SHA-256 is 64 lowercase hex digits")
        if name in names:
            raise InputError(f"two annexes are named {name}")
        names.add(name)
    return [dict(annex) for annex in annexes]


def annex_lines(annexes: Iterable[Mapping[str, Any]] | None) -> str:
    """The ``Annex: <sha256> <size> <name>`` lines of a signed document, one per annex in the version's order."""
    return "".join(f"Annex: {a['sha256']} {a['size']} {a['name']}\n" for a in annexes or ())


def signed_document(negotiation_id: str, agreement_id: str, version: int, text: str, *,
                    language: str | None = None, authentic: str | None = None,
                    annexes: Iterable[Mapping[str, Any]] | None = None) -> str:
    """The exact bytes (UTF-8) a head signs and consents to release: a header block naming the
    negotiation, the agreement, the finalized version and the text's SHA-256, a blank line, the text.

    A text in several languages has one signed document per language: its header block also names the
    language of the text that follows (``Language:``) and every authentic text with its SHA-256 and the
    authenticity clause (``Authentic-texts:``, see ``authentic_texts``), so a signature on one language's text
    also binds the set of texts it is authentic with.

    A version with annexes lists each one, after the other header lines, as ``Annex: <sha256> <size> <name>``:
    heads sign the text and its annex list together, so another annex list is another document to sign.

    It is what a publication's ``agreement.txt`` (``agreement.<language>.txt``) holds, so ``ssh-keygen -Y
    verify`` checks it alone.

    Raises:
        InputError: an id that could break the header block (not an identifier), or a bad version; a language
            without its authenticity line or the other way round; a malformed annex list.
    """
    _identifier(negotiation_id, "the negotiation id")
    _identifier(agreement_id, "the agreement id")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError("a text version is a number from 1")
    if (language is None) != (authentic is None):
        raise InputError("a text in several languages names its language and the authentic texts")
    head = (f"{SIGNED_DOCUMENT_FORMAT}\n"
            f"Negotiation: {negotiation_id}\n"
            f"Agreement: {agreement_id}\n"
            f"Version: {version}\n"
            f"Text-SHA256: {text_sha256(text)}\n")
    if language is not None:
        if "\n" in str(authentic):
            raise InputError("the authenticity line is one line")
        head += f"Language: {check_language(language)}\nAuthentic-texts: {authentic}\n"
    head += annex_lines(check_annexes(list(annexes) if annexes is not None else None))
    return f"{head}\n{text}"


def authentic_texts(languages: list[str], digests: Mapping[str, str], prevailing: str | None) -> str:
    """The ``Authentic-texts:`` line of a text in several languages: each language with its text's SHA-256, then
    the clause (``each text equally authentic``, or ``en prevails in case of divergence``)."""
    clause = f"{prevailing} prevails in case of divergence" if prevailing else "each text equally authentic"
    return ", ".join(f"{code}={digests[code]}" for code in languages) + f"; {clause}"


def parse_signed_document(document: str) -> dict[str, Any]:
    """The header fields and text of a signed document (``signed_document`` read back); a text in several
    languages also gives its ``language`` and ``authentic`` (the Authentic-texts line); ``annexes`` lists the
    ``Annex:`` lines as ``{"name", "size", "sha256"}`` (empty without annexes).

    Raises:
        InputError: not a signed document of this format (or its digest line does not match its text).
    """
    head, separator, text = document.partition("\n\n")
    lines = head.split("\n")
    annexes = []
    while lines and lines[-1].startswith("Annex: "):
        digest, _, rest = lines.pop()[len("Annex: "):].partition(" ")
        size, _, name = rest.partition(" ")
        if not size.isdigit():
            raise InputError("the signed document has a malformed Annex line")
        annexes.insert(0, {"name": name, "size": int(size), "sha256": digest})
    if not separator or len(lines) not in (5, 7) or lines[0] != SIGNED_DOCUMENT_FORMAT:
        raise InputError(f"not a signed agreement document ('{SIGNED_DOCUMENT_FORMAT}' header block)")
    fields = {"Language": None, "Authentic-texts": None}
    names = ("Negotiation", "Agreement", "Version", "Text-SHA256", "Language", "Authentic-texts")
    for line, name in zip(lines[1:], names[:len(lines) - 1], strict=True):
        key, _, value = line.partition(": ")
        if key != name:
            raise InputError(f"the signed document's header block lacks '{name}'")
        fields[name] = value
    if not fields["Version"].isdigit():
        raise InputError("the signed document names no version number")
    parsed = {"negotiation_id": fields["Negotiation"], "agreement_id": fields["Agreement"],
              "version": int(fields["Version"]), "text_sha256": fields["Text-SHA256"], "text": text,
              "annexes": annexes}
    if fields["Language"] is not None:  # a text in several languages
        parsed.update(language=fields["Language"], authentic=fields["Authentic-texts"])
    if signed_document(parsed["negotiation_id"], parsed["agreement_id"], parsed["version"], text,
                       language=parsed.get("language"), authentic=parsed.get("authentic"),
                       annexes=annexes) != document:
        raise InputError("the signed document's header block does not match its text")
    return parsed


def verify_head_act(armored: Any, document: str, namespace: str, device: Any, heads: Mapping[str, str],
                    what: str) -> None:
    """The one rule for a signature or release consent, in the client fold and the relay alike.

    ``device`` is the device key id that made the act (the author of the sign / consent event, or
    the device a publication names); ``heads`` maps the device key ids of the party's heads of
    delegation to their certified signing keys. The act counts only if ``device`` is one of them
    and ``armored`` verifies under that device's certified key over ``document`` (which names the
    negotiation, agreement, version and text): no key carried in the content is ever used.

    Raises:
        ProtocolError: the device is not a head of delegation of the party.
        SignatureError: the signature is not this head's over this document (another party's
            signature, or one made for another negotiation, agreement, version or text).
        InputError: malformed signature field.
    """
    key = heads.get(device) if isinstance(device, str) else None
    if key is None:
        raise ProtocolError(f"{what}: not made by a head of delegation of that party")
    if not isinstance(armored, str):
        raise InputError(f"{what}: the signature is missing")
    try:
        sshsig_verify(armored, document.encode("utf-8"), namespace, load_public_key(key))
    except SignatureError:
        raise SignatureError(f"{what}: does not verify under the certified key of the head who made it over this "
                             "negotiation, agreement, version and text (another's signature, or one made for "
                             "another agreement)") from None


@dataclass
class AgreementView:
    """One agreement as the fold read it: its text versions, objections, the finalize, signatures and consents,
    each typed (``parley.protocol.views``)."""

    agreement_id: str
    mediator: str | None = None
    versions: list[AgreementVersion] = field(default_factory=list)
    objections: list[ObjectionView] = field(default_factory=list)
    finalized: FinalizedView | None = None
    #: party id -> its head's signature (and consent to release)
    signatures: dict[str, SignatureView] = field(default_factory=dict)
    consents: dict[str, ConsentView] = field(default_factory=dict)
    #: events about this agreement that broke a rule (a forged or replayed signature...): shown, never counted
    violations: list[str] = field(default_factory=list)

    @property
    def latest(self) -> AgreementVersion | None:
        return self.versions[-1] if self.versions else None

    def article_status(self, language: str | None = None) -> list[dict[str, Any]]:
        """Per article of the latest version: objected by whom, or no objection (which is not agreement yet:
        the text is agreed when every party signed it). An objection to one language's text counts against
        that language (and, with ``language`` None, against the article in any language); an objection
        naming no language counts against every language."""
        if self.latest is None:
            return []
        version = self.latest.version
        out = []
        for article in self.latest.articles:
            by = sorted({o.party for o in self.objections
                         if o.version == version and o.article == article.number and o.kind == "objection"
                         and (language is None or o.language in (None, language))})
            out.append({"number": article.number, "heading": article.heading,
                        "status": "objected" if by else "no objection", "objected_by": by})
        return out

    def document(self, negotiation_id: str, language: str | None = None) -> str:
        """The signed document of the finalized version (what heads sign and consent to release), in
        ``language`` (default: the first language). Heads sign every language's document; the release
        consent is given on the first language's, whose header names every authentic text's SHA-256.

        Raises:
            ProtocolError: the text is not finalized.  NotFoundError: no text in that language.
        """
        if self.finalized is None:
            raise ProtocolError("the text is not finalized")
        finalized = self.finalized_version()
        languages = finalized.languages or [DEFAULT_LANGUAGE]
        language = language or languages[0]
        if language not in finalized.texts:
            raise NotFoundError(f"version {finalized.version} has no {language} text")
        annexes = public_annexes(finalized.annexes)
        if len(languages) == 1:
            return signed_document(negotiation_id, self.agreement_id, finalized.version, finalized.text,
                                   annexes=annexes)
        return signed_document(negotiation_id, self.agreement_id, finalized.version,
                               finalized.texts[language].text, language=language, annexes=annexes,
                               authentic=authentic_texts(languages, {c: t.sha256 for c, t in finalized.texts.items()},
                                                         finalized.prevailing))

    def finalized_version(self) -> AgreementVersion:
        """The version finalize froze.

        Raises:
            ProtocolError: the text is not finalized.
        """
        if self.finalized is None:
            raise ProtocolError("the text is not finalized")
        return next(v for v in self.versions if v.version == self.finalized.version)

    def languages(self) -> list[str]:
        """The languages of the finalized version (or of the latest one while drafting)."""
        version = self.latest if self.finalized is None else self.finalized_version()
        return list((version.languages if version is not None else None) or [DEFAULT_LANGUAGE])

    def seal_state(self, parties: Iterable[str]) -> str:
        parties = set(parties)
        if self.finalized is None:
            return "drafting"
        if not parties <= set(self.signatures):
            return "sealed"
        if not parties <= set(self.consents):
            return "signed, sealed until every party consents to release"
        return "released"


def check_agreement_content(event_type: str, content: Any) -> Body:
    """The typed body of an agreement event: its shape (``parley.protocol.bodies``), then
    ``check_agreement_body``.

    Raises:
        InputError: malformed agreement content.
    """
    body = decode_content(event_type, content)
    check_agreement_body(event_type, body)
    return body


def check_agreement_body(event_type: str, c: Any) -> None:
    """What an agreement body's declaration cannot state: the canonical text of every language, the annex
    names, the language fields.

    Raises:
        InputError: the message says what is wrong.
    """
    if event_type == TEXT:
        canonical_text(c.title, msgspec.to_builtins(c.articles))
        check_annexes(msgspec.to_builtins(c.annexes))
        languages = check_languages(c, parallel="articles")
        for code in languages[1:]:
            other = c.texts[code]
            try:
                canonical_text(other.title, msgspec.to_builtins(other.articles))
            except InputError as exc:
                raise InputError(f"the {code} text: {exc.message}") from None
    elif event_type == OBJECTION:
        if c.language is not None:
            check_language(c.language)
    elif event_type == FINALIZE and c.canonical is not None:
        canonical_text(c.canonical.title, msgspec.to_builtins(c.canonical.articles))


def public_annexes(annexes: Iterable[Mapping[str, Any] | Annex] | None) -> list[dict[str, Any]]:
    """An annex list (as listed in a content, or a version's ``Annex`` records) as signed and published: name, size
    and SHA-256 only (no attachment ids)."""
    return [{"name": _field(a, "name"), "size": _field(a, "size"), "sha256": _field(a, "sha256")}
            for a in annexes or ()]


def _no_marks(text: str) -> str:
    return text


def derive_agreements(entries: Iterable[Entry], negotiation_id: str | None = None, *,
                      unmark: Callable[[str], str] = _no_marks) -> tuple[dict[str, AgreementView], list[str]]:
    """Fold agreement events into views; invalid ones are listed as violations and skipped.

    ``negotiation_id`` is named in what heads sign: without it, no signature or consent counts (each is
    listed as a violation). ``unmark`` turns a recipient's (tracing-marked) copy of an article back into the canonical text,
    which is what everybody signs; the fold itself knows nothing of marks.
    """
    agreements: dict[str, AgreementView] = {}
    violations: list[str] = []
    for e in sorted(entries, key=lambda x: x.seq):
        if e.type not in AGREEMENT_TYPES:
            continue
        try:
            check_agreement_body(e.type, e.body)
            _apply(agreements, e, negotiation_id, unmark)
        except (InputError, ProtocolError, SignatureError) as exc:
            message = f"event {e.seq} ({e.type}) by {e.author}: {exc.message}"
            violations.append(message)
            view = agreements.get(e.content.get("agreement_id")) if isinstance(e.content, Mapping) else None
            if view is not None:
                view.violations.append(message)
    return agreements, violations


def _apply(agreements: dict[str, AgreementView], e: Entry, negotiation_id: str | None,
           unmark: Callable[[str], str]) -> None:
    c: Any = e.body
    view = agreements.setdefault(c.agreement_id, AgreementView(c.agreement_id))
    if e.type == TEXT:
        if view.mediator is None:
            view.mediator = e.party
        elif e.party != view.mediator:
            raise ProtocolError("only the mediator's party posts versions of the single negotiating text")
        if view.finalized is not None:
            raise ProtocolError("the text is finalized")
        if c.version != len(view.versions) + 1:
            raise InputError("text versions are numbered one after another")
        # Copies may carry invisible tracing marks: everything is signed over the un-marked text.
        articles = msgspec.to_builtins(c.articles)
        text = canonical_text(c.title, [{**a, "text": unmark(a["text"])} for a in articles])
        languages = _language_texts(c, unmark)
        version = AgreementVersion(
            languages=languages["languages"], prevailing=languages["prevailing"],
            texts=_typed_texts(languages["texts"]), authenticity=languages["authenticity"],
            version=c.version, title=c.title, articles=list(c.articles), text=text, sha256=text_sha256(text),
            at=e.created, copy=c.copy, seq=e.seq,
            annexes=msgspec.convert(check_annexes(msgspec.to_builtins(c.annexes)), list[Annex]))
        _worded_copy(version, c.canonical_sha256)
        if c.annex_copies is not None:
            version.annex_copies = _annex_copies(msgspec.to_builtins(c.annex_copies), version.annexes)
        view.versions.append(version)
    elif e.type == OBJECTION:
        if view.latest is None or c.version > view.latest.version:
            raise InputError("objection to an unknown version")
        languages = next(v.languages for v in view.versions if v.version == c.version)
        if c.language is not None and c.language not in languages:
            raise InputError(f"version {c.version} has no {c.language} text")
        if c.kind == "withdraw":
            view.objections = [o for o in view.objections if not (o.party == e.party and o.article == c.article
                                                                  and o.version == c.version
                                                                  and o.language == c.language)]
        else:
            view.objections.append(ObjectionView(version=c.version, article=c.article, kind=c.kind,
                                                 language=c.language, party=e.party, by=e.author, text=c.text,
                                                 at=e.created))
    elif e.type == FINALIZE:
        if e.party != view.mediator or e.authority != "head":
            raise ProtocolError("only the mediator's head of delegation finalizes the text")
        if view.latest is None or c.text_sha256 != view.latest.sha256:
            raise ProtocolError("finalize names another text than the latest version")
        open_objections = [a for a in view.article_status() if a["status"] == "objected"]
        if open_objections and not c.override:
            raise ProtocolError("articles have open objections; finalizing needs an explicit override")
        check_deadline(c.sign_by, now=parse_time(e.created), what="sign_by deadline")
        if view.latest.canonical_sha256 is not None:
            _reveal_canonical(view.latest, None if c.canonical is None else msgspec.to_builtins(c.canonical))
        if any(a.stamped for a in view.latest.annexes):
            _reveal_annexes(view.latest, None if c.annexes is None else msgspec.to_builtins(c.annexes))
        view.finalized = FinalizedView(sha256=c.text_sha256, version=view.latest.version, at=e.created,
                                       sign_by=c.sign_by, override=bool(c.override), reason=c.reason,
                                       open_objections=[a["number"] for a in open_objections])
    elif e.type == SIGN:
        _check_act(view, e, "sign")
        document = view.document(negotiation_id)
        verify_head_act(c.signature, document, SIGN_NAMESPACE, e.device, _author_as_head(e),
                        "the signature")
        # A text in several languages: the head signs every language's text, each its own signed document.
        by_language = {}
        others = c.signatures or {}
        for language in view.languages()[1:]:
            if not isinstance(others, Mapping) or language not in others:
                raise ProtocolError(f"heads sign every language version: the {language} text is not signed")
            verify_head_act(others[language], view.document(negotiation_id, language), SIGN_NAMESPACE, e.device,
                            _author_as_head(e), f"the signature of the {language} text")
            by_language[language] = others[language]
        view.signatures[e.party] = SignatureView(signature=c.signature, public_key=e.signing_key, device=e.device,
                                                 by=e.author, at=e.created, event_id=e.event_id, seq=e.seq,
                                                 languages=by_language)
    elif e.type == RELEASE:
        _check_act(view, e, "consent to release")
        if view.finalized is None or not set(view.signatures) >= set(view.signatures if c.parties is None else c.parties):
            raise ProtocolError("release consent before every party signed")
        verify_head_act(c.consent, view.document(negotiation_id), RELEASE_NAMESPACE, e.device,
                        _author_as_head(e), "the release consent")
        view.consents[e.party] = ConsentView(consent=c.consent, public_key=e.signing_key, device=e.device,
                                             by=e.author, at=e.created)


def _worded_copy(version: AgreementVersion, claims: Any) -> None:
    """A version delivered in per-reader wording (leak tracing, docs/tracing.md): its content names the SHA-256
    of the canonical text in each language (``canonical_sha256``), one for all readers, which finalize and
    signatures name; the reader's own wording stays the version's ``text`` (what its redline compares) until
    finalize reveals the canonical text. ``worded`` says whether this copy's words differ from it."""
    if claims is None:
        return
    languages = version.languages
    if not isinstance(claims, Mapping) or set(claims) != set(languages):
        raise InputError("canonical_sha256 names the canonical text's SHA-256 in each language of the version")
    for digest in claims.values():
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= set("0123456789abcdef"):
            raise InputError("canonical_sha256 values are SHA-256 digests (64 lowercase hex digits)")
    version.worded = any(version.texts[code].sha256 != claims[code] for code in languages)
    version.canonical_sha256 = dict(claims)
    version.sha256 = claims[languages[0]]
    for code in languages:
        version.texts[code] = msgspec.structs.replace(version.texts[code], sha256=claims[code])


def _reveal_canonical(version: AgreementVersion, canonical: Any) -> None:
    """Finalize of a version delivered in per-reader wording carries its canonical text (title and articles
    in each language), the one text every party signs: each language's SHA-256 must be the one the version
    named. The version then holds the canonical text; the reader's own wording stays as ``copy_text`` (and
    ``copy_texts`` per language, which the reader's redline keeps comparing with his other versions).

    Raises:
        ProtocolError: no canonical text, or one whose SHA-256 is not the one the version named.
        InputError: a malformed canonical text.
    """
    if not isinstance(canonical, Mapping):
        raise ProtocolError("finalize of a text delivered in per-reader wording must carry the canonical text")
    content = {**canonical, "languages": version.languages, "prevailing": version.prevailing}
    if len(version.languages) > 1:
        check_languages(content, parallel="articles")
    title = content.get("title")
    if title != version.title:
        raise ProtocolError("finalize carries a canonical text with another title than the version's")
    revealed = _typed_texts(_language_texts(content, _no_marks)["texts"])
    for code in version.languages:
        if revealed[code].sha256 != (version.canonical_sha256 or {}).get(code):
            raise ProtocolError(f"finalize carries a canonical {code} text other than the one version "
                                f"{version.version} named (SHA-256 differs)")
    first = revealed[version.languages[0]]
    version.copy_text, version.copy_articles = version.text, version.articles
    version.copy_texts = {code: version.texts[code].text for code in version.languages}
    version.text, version.articles, version.texts, version.worded = first.text, list(first.articles), revealed, False


def _annex_copies(copies: Any, annexes: list[Annex]) -> dict[str, AnnexCopy]:
    """A reader's own (stamped) copies of a draft's PDF annexes, by attachment id: the size and SHA-256 of the
    bytes this reader received, which differ from the canonical ones the version names (docs/tracing.md).

    Raises:
        InputError: not a map of the version's stamped annexes to a size and a SHA-256.
    """
    stamped = {a.attachment_id for a in annexes if a.stamped}
    if not isinstance(copies, Mapping) or not set(copies) <= stamped:
        raise InputError("annex_copies maps the version's stamped annexes to this reader's copy")
    out = {}
    for attachment_id, copy in copies.items():
        (checked,) = check_annexes([{"name": "copy", **(copy if isinstance(copy, Mapping) else {})}])
        out[attachment_id] = AnnexCopy(size=checked["size"], sha256=checked["sha256"])
    return out


def _reveal_annexes(version: AgreementVersion, revealed: Any) -> None:
    """Finalize of a version whose PDF annexes reached each reader stamped carries the annex list again, each
    stamped annex as the canonical bytes posted anew for every party: names, sizes and SHA-256 must be those
    the version named (each client checks the bytes against them, ``AgreementDesk.check_annex_bytes``). The
    version then lists the canonical annexes; the readers' own copies are dropped.

    Raises:
        ProtocolError: no annex list, or another one than the version named.  InputError: a malformed list.
    """
    if not isinstance(revealed, list):
        raise ProtocolError("finalize of a version with stamped PDF annexes must carry the canonical annexes")
    annexes = check_annexes(revealed)
    if public_annexes(annexes) != public_annexes(version.annexes) or any(
            not isinstance(a.get("attachment_id"), str) or a.get("stamped") for a in annexes):
        raise ProtocolError(f"finalize carries other annexes than version {version.version} named "
                            "(name, size or SHA-256 differs)")
    version.annexes = msgspec.convert(annexes, list[Annex])
    version.annex_copies = None


def _author_as_head(e: Entry) -> dict[str, str]:
    """The heads an act by ``e``'s author can be checked against: its own certified key, if it is a head."""
    return {e.device: e.signing_key} if e.role == "head" and e.device and e.signing_key else {}


def language_texts(content: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each language's ``{title, articles, text, sha256}`` of a text version's content (checked by
    ``check_agreement_content``), first language first: the canonical text and the digest finalize names."""
    return _language_texts(content, _no_marks)["texts"]


def _language_texts(c: Any, unmark: Any) -> dict[str, Any]:
    """The languages of a text version, its prevailing language, and each language's canonical text and digest
    (``c``: a typed body, or a content mapping)."""
    languages = _field(c, "languages") or [DEFAULT_LANGUAGE]
    texts = {}
    for code, fields in texts_by_language(c, ("title", "articles")).items():
        articles = [{**a, "text": unmark(a["text"]) if isinstance(a.get("text"), str) else a.get("text")}
                    for a in fields["articles"] if isinstance(a, Mapping)]
        text = canonical_text(fields["title"], articles)
        texts[code] = {"title": fields["title"], "articles": list(fields["articles"]), "text": text,
                       "sha256": text_sha256(text)}
    prevailing = _field(c, "prevailing")
    return {"languages": list(languages), "prevailing": prevailing, "texts": texts,
            "authenticity": authenticity(list(languages), prevailing)}


def _typed_texts(texts: Mapping[str, Mapping[str, Any]]) -> dict[str, LanguageText]:
    """Each language's ``{title, articles, text, sha256}`` (``_language_texts``) as a ``LanguageText``."""
    return {code: LanguageText(title=t["title"], articles=msgspec.convert(t["articles"], list[Article]),
                               text=t["text"], sha256=t["sha256"]) for code, t in texts.items()}


def _field(content: Any, name: str) -> Any:
    return content.get(name) if isinstance(content, Mapping) else getattr(content, name, None)


def _check_act(view: AgreementView, e: Entry, what: str) -> None:
    if e.authority != "head" or e.role != "head":
        raise ProtocolError(f"only a head of delegation may {what}")
    if view.finalized is None:
        raise ProtocolError(f"cannot {what} before the text is finalized")
    if e.body.text_sha256 != view.finalized.sha256:
        raise ProtocolError(f"{what}: a signature over a different text than the finalized one")
    if e.body.version is not None and e.body.version != view.finalized.version:
        raise ProtocolError(f"{what}: names another version than the finalized one")


def check_publication(content: Any, negotiation_id: str, heads_by_party: Mapping[str, Mapping[str, str]]) -> None:
    """Validate a publication event (the relay runs this): every party signed and consented.

    ``content`` is the publication's typed content (``public_bodies.Publication``), or its content as sent,
    checked here against that declaration. ``heads_by_party`` maps each party in the negotiation to
    {device key id: signing key} of its current heads of delegation. Each party's signature and consent
    must verify, by ``verify_head_act``, under the key of the head device the publication names, over the
    signed document of this negotiation, agreement, version and text.

    Raises:
        ProtocolError: a party's signature or release consent is missing or not by one of its heads.
        SignatureError / InputError: a signature does not verify or the content is malformed (the message
            names the field).
    """
    publication = content if isinstance(content, Publication) else decode_public(PUBLICATION, content)
    documents = _publication_documents(publication, negotiation_id)
    document = documents[None]
    if publication.document != document:
        raise ProtocolError("the publication's signed document does not name this negotiation, agreement, "
                            "version and text")
    for kind, given, namespace, what in (("signatures", publication.signatures, SIGN_NAMESPACE, "signature"),
                                         ("consents", publication.consents, RELEASE_NAMESPACE, "release consent")):
        for party_id, heads in heads_by_party.items():
            item = given.get(party_id)
            if item is None:
                raise ProtocolError(f"publication before every party signed and consented: {kind} of a party missing")
            verify_head_act(item.signature, document, namespace, item.device, heads, f"publication {what} of a party")
            certified = heads.get(item.device) if item.device is not None else None
            if item.public_key is not None and item.public_key != certified:
                raise ProtocolError(f"publication {what}: names a key other than the certified key of its head")
            if kind != "signatures":
                continue
            for language, other in documents.items():
                if language is None:
                    continue
                armored = (item.languages or {}).get(language)
                verify_head_act(armored, other, namespace, item.device, heads,
                                f"publication signature of a party on the {language} text")


def _publication_documents(publication: Publication, negotiation_id: str) -> dict[str | None, str]:
    """The signed documents a publication must carry signatures over: ``None`` -> the first language's (or
    the only one's), and each other language's; computed from the texts, never taken from the content.

    Raises:
        InputError: malformed languages, texts or annexes.  ProtocolError: a text's document differs from the
            one given.
    """
    agreement_id = _identifier(publication.agreement_id, "the agreement id")
    languages = publication.languages or [DEFAULT_LANGUAGE]
    annexes = public_annexes(check_annexes(publication.annexes))
    if len(languages) == 1:
        return {None: signed_document(negotiation_id, agreement_id, publication.version, publication.text,
                                      annexes=annexes)}
    texts = publication.texts
    if texts is None or set(texts) != set(languages[1:]):
        raise InputError("a publication in several languages carries one text per language")
    all_texts = {languages[0]: publication.text, **{code: texts[code].text for code in languages[1:]}}
    authentic = authentic_texts(languages, {c: text_sha256(t) for c, t in all_texts.items()}, publication.prevailing)
    documents: dict[str | None, str] = {}
    for code in languages:
        doc = signed_document(negotiation_id, agreement_id, publication.version, all_texts[code], language=code,
                              authentic=authentic, annexes=annexes)
        documents[None if code == languages[0] else code] = doc
        if code != languages[0] and texts[code].document != doc:
            raise ProtocolError(f"the publication's {code} document does not name this negotiation, agreement, "
                                "version, text and the authentic texts")
    return documents
