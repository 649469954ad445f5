"""The agreement fold's text versions, table-driven: a sequence of agreement events -> the typed versions
(``AgreementVersion``) with their exact attribute values, and their JSON form (``plain``) with the keys it always
had: every version's, and those of a version in per-reader wording or with stamped annexes only where they apply."""

from __future__ import annotations

from typing import Any

import pytest

from parley.protocol import agreement as ag
from parley.protocol.bodies import Annex, Article
from parley.protocol.views import AgreementVersion, AnnexCopy, LanguageText, plain
from parley.protocol.workflow import Entry

NEGOTIATION = "n-00112233445566aa"
TITLE = "Memorandum of understanding"
ARTICLES = [{"number": 1, "heading": "Ceasefire", "text": "A ceasefire of thirty days."},
            {"number": 2, "heading": "Prisoners", "text": "All for all."}]
#: a reader's own wording of ARTICLES (per-reader wording, docs/tracing.md)
WORDED = [{"number": 1, "heading": "Ceasefire", "text": "A ceasefire of 30 days."},
          {"number": 2, "heading": "Prisoners", "text": "All for all."}]
UK_TITLE = "Меморандум"
UK_ARTICLES = [{"number": 1, "heading": "Припинення вогню", "text": "Тридцять днів."},
               {"number": 2, "heading": "Полонені", "text": "Всіх на всіх."}]
TEXT = ag.canonical_text(TITLE, ARTICLES)
TEXT_WORDED = ag.canonical_text(TITLE, WORDED)
TEXT_UK = ag.canonical_text(UK_TITLE, UK_ARTICLES)
SHA, SHA_WORDED, SHA_UK = ag.text_sha256(TEXT), ag.text_sha256(TEXT_WORDED), ag.text_sha256(TEXT_UK)
MAP = {"name": "map.pdf", "size": 1200, "sha256": "a" * 64, "attachment_id": "att-map", "chunks": 1}
STAMPED = {**MAP, "stamped": True}
OWN_COPY = {"size": 1300, "sha256": "b" * 64}
AT = ["2026-03-01T10:00:00Z", "2026-03-01T10:01:00Z", "2026-03-01T10:02:00Z"]
#: the keys every version's JSON form has, in order (``prevailing`` and ``copy`` as null when unset)
KEYS = ["languages", "prevailing", "texts", "authenticity", "version", "title", "articles", "text", "sha256", "at",
        "copy", "seq", "annexes"]


def fold(*contents: tuple[str, dict[str, Any]]) -> tuple[ag.AgreementView, list[str]]:
    """Fold ``(event type, content)`` pairs, each posted by the mediator's head in that order."""
    entries = [Entry(seq=i, event_id=f"{i:064x}", created=AT[i], author="Mediator", role="head", party="tr",
                     authority="member" if kind == ag.TEXT else "head", audience=("ru", "tr", "ua"), type=kind,
                     content={"agreement_id": "accord", **content}, device="dev-tr", signing_key="key-tr")
               for i, (kind, content) in enumerate(contents)]
    agreements, violations = ag.derive_agreements(entries, NEGOTIATION)
    return agreements["accord"], violations


def text(articles: list[dict[str, Any]] = ARTICLES, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ag.TEXT, {"version": 1, "title": TITLE, "articles": articles, **extra}


def finalize(digest: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ag.FINALIZE, {"text_sha256": digest, **extra}


def articles(raw: list[dict[str, Any]]) -> list[Article]:
    return [Article(**a) for a in raw]


def english(title: str = TITLE, raw: list[dict[str, Any]] = ARTICLES, text_: str = TEXT,
            sha256: str = SHA) -> LanguageText:
    return LanguageText(title=title, articles=articles(raw), text=text_, sha256=sha256)


def version(**fields: Any) -> AgreementVersion:
    """Version 1 of TITLE / ARTICLES in English, as the fold records it, with ``fields`` changed."""
    base: dict[str, Any] = {
        "languages": ["en"], "prevailing": None, "texts": {"en": english()},
        "authenticity": "en: each text equally authentic", "version": 1, "title": TITLE,
        "articles": articles(ARTICLES), "text": TEXT, "sha256": SHA, "at": AT[0], "copy": None, "seq": 0,
        "annexes": []}
    return AgreementVersion(**{**base, **fields})


# ---- event sequence -> the latest typed version, and the keys of its JSON form ----------------------------------
VERSIONS: list[tuple[str, list[tuple[str, dict[str, Any]]], AgreementVersion, list[str]]] = [
    ("a text in one language",
     [text()], version(), KEYS),
    ("a reader's copy line and an annex (its optional fields left out where unset)",
     [text(copy="Copy no. 2 for Ukraine", annexes=[MAP, {"name": "notes.txt", "size": 3, "sha256": "c" * 64}])],
     version(copy="Copy no. 2 for Ukraine",
             annexes=[Annex(**MAP), Annex(name="notes.txt", size=3, sha256="c" * 64)]), KEYS),
    ("a text in two languages, English prevailing",
     [text(languages=["en", "uk"], prevailing="en", texts={"uk": {"title": UK_TITLE, "articles": UK_ARTICLES}})],
     version(languages=["en", "uk"], prevailing="en",
             texts={"en": english(), "uk": english(UK_TITLE, UK_ARTICLES, TEXT_UK, SHA_UK)},
             authenticity="en, uk: en prevails in case of divergence"), KEYS),
    ("per-reader wording: the reader's own words, the canonical text's SHA-256",
     [text(WORDED, canonical_sha256={"en": SHA})],
     version(articles=articles(WORDED), text=TEXT_WORDED, sha256=SHA,
             texts={"en": english(raw=WORDED, text_=TEXT_WORDED, sha256=SHA)},
             worded=True, canonical_sha256={"en": SHA}), [*KEYS, "worded", "canonical_sha256"]),
    ("per-reader wording of a holder: the canonical words, not worded",
     [text(canonical_sha256={"en": SHA})],
     version(worded=False, canonical_sha256={"en": SHA}), [*KEYS, "worded", "canonical_sha256"]),
    ("per-reader wording finalized: the canonical text, the reader's own wording kept as the copy",
     [text(WORDED, canonical_sha256={"en": SHA}), finalize(SHA, canonical={"title": TITLE, "articles": ARTICLES})],
     version(worded=False, canonical_sha256={"en": SHA}, copy_text=TEXT_WORDED, copy_articles=articles(WORDED),
             copy_texts={"en": TEXT_WORDED}),
     [*KEYS, "worded", "canonical_sha256", "copy_text", "copy_articles", "copy_texts"]),
    ("a stamped PDF annex: the canonical file named, this reader's own copy beside it",
     [text(annexes=[STAMPED], annex_copies={"att-map": OWN_COPY})],
     version(annexes=[Annex(**STAMPED)], annex_copies={"att-map": AnnexCopy(**OWN_COPY)}), [*KEYS, "annex_copies"]),
    ("a stamped PDF annex finalized: the canonical annex posted anew, the reader's copy dropped",
     [text(annexes=[STAMPED], annex_copies={"att-map": OWN_COPY}),
      finalize(SHA, annexes=[{**MAP, "attachment_id": "att-final"}])],
     version(annexes=[Annex(**{**MAP, "attachment_id": "att-final"})]), KEYS),
]


@pytest.mark.parametrize(("events", "expected", "keys"), [row[1:] for row in VERSIONS],
                         ids=[row[0] for row in VERSIONS])
def test_text_version(events, expected, keys):
    view, violations = fold(*events)
    assert violations == []
    assert view.latest == expected
    assert list(plain(view.latest)) == keys


def test_the_json_form_is_the_plain_version_it_always_was():
    view, _ = fold(text(WORDED, copy="Copy no. 2", canonical_sha256={"en": SHA}, annexes=[STAMPED],
                        annex_copies={"att-map": OWN_COPY}))
    article = [{"number": 1, "heading": "Ceasefire", "text": "A ceasefire of 30 days."},
               {"number": 2, "heading": "Prisoners", "text": "All for all."}]
    assert plain(view.versions) == [{
        "languages": ["en"], "prevailing": None,
        "texts": {"en": {"title": TITLE, "articles": article, "text": TEXT_WORDED, "sha256": SHA}},
        "authenticity": "en: each text equally authentic", "version": 1, "title": TITLE, "articles": article,
        "text": TEXT_WORDED, "sha256": SHA, "at": AT[0], "copy": "Copy no. 2", "seq": 0,
        "annexes": [{"name": "map.pdf", "size": 1200, "sha256": "a" * 64, "attachment_id": "att-map", "chunks": 1,
                     "stamped": True}],
        "worded": True, "canonical_sha256": {"en": SHA}, "annex_copies": {"att-map": OWN_COPY}}]


# ---- what the fold refuses leaves the typed version as it was ----------------------------------------------------
REFUSED: list[tuple[str, list[tuple[str, dict[str, Any]]], str]] = [
    ("finalize of a worded version without its canonical text",
     [text(WORDED, canonical_sha256={"en": SHA}), finalize(SHA)], "must carry the canonical text"),
    ("finalize carrying another canonical text than the version named",
     [text(WORDED, canonical_sha256={"en": SHA}), finalize(SHA, canonical={"title": TITLE, "articles": WORDED})],
     "SHA-256 differs"),
    ("finalize of stamped annexes without them",
     [text(annexes=[STAMPED], annex_copies={"att-map": OWN_COPY}), finalize(SHA)], "must carry the canonical annexes"),
    ("finalize naming another annex than the version's",
     [text(annexes=[STAMPED], annex_copies={"att-map": OWN_COPY}),
      finalize(SHA, annexes=[{**MAP, "size": 1201}])], "other annexes than version 1 named"),
]


@pytest.mark.parametrize(("events", "violation"), [row[1:] for row in REFUSED], ids=[row[0] for row in REFUSED])
def test_a_refused_finalize_leaves_the_version_as_delivered(events, violation):
    view, violations = fold(*events)
    delivered, _ = fold(events[0])
    assert len(violations) == 1 and violation in violations[0]
    assert view.finalized is None and view.latest == delivered.latest


def test_a_copy_of_an_annex_not_stamped_is_refused():
    view, violations = fold(text(annexes=[MAP], annex_copies={"att-map": OWN_COPY}))
    assert view.versions == [] and "annex_copies maps the version's stamped annexes" in violations[0]


def test_the_finalized_version_is_the_one_finalize_froze():
    view, _ = fold(text(), (ag.TEXT, {"version": 2, "title": TITLE, "articles": WORDED}), finalize(SHA_WORDED))
    assert view.finalized_version() is view.versions[1] and view.finalized_version().text == TEXT_WORDED
    assert view.languages() == ["en"]
