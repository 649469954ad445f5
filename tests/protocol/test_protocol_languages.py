"""Texts in several languages: validation, per-language texts and digests, objections and positions per language."""

from __future__ import annotations

import pytest

from parley.errors import InputError
from parley.protocol import workflow as wf
from parley.protocol.agreement import OBJECTION, TEXT, check_agreement_content, derive_agreements, text_sha256
from parley.protocol.languages import authenticity, check_languages

UA, RU, TR = "party-ua", "party-ru", "party-tr"
EN = [{"number": 1, "heading": "Ceasefire", "text": "Thirty days."},
      {"number": 2, "heading": "Prisoners", "text": "All for all."}]
UK = {"title": "Меморандум", "articles": [{"number": 1, "heading": "Припинення вогню", "text": "Тридцять днів."},
                                          {"number": 2, "heading": "Полонені", "text": "Всіх на всіх."}]}
RU_TEXT = {"title": "Меморандум", "articles": [{"number": 1, "heading": "Прекращение огня", "text": "Тридцать дней."},
                                               {"number": 2, "heading": "Пленные", "text": "Всех на всех."}]}


def text_content(**extra):
    return {"agreement_id": "agreement-1", "version": 1, "title": "Memorandum", "articles": EN,
            "languages": ["en", "uk", "ru"], "texts": {"uk": UK, "ru": RU_TEXT}, "prevailing": None, **extra}


BAD = [
    ("a text missing", {"texts": {"uk": UK}}, "missing ru"),
    ("a text not listed", {"languages": ["en", "uk"]}, "not listed"),
    ("a language twice", {"languages": ["en", "uk", "uk"]}, "listed twice"),
    ("a bad code", {"languages": ["en", "Ukrainian", "ru"], "texts": {"Ukrainian": UK, "ru": RU_TEXT}},
     "a language is a code"),
    ("a prevailing language not among them", {"prevailing": "fr"}, "'fr' is not one of the texts"),
    ("articles not parallel", {"texts": {"uk": {**UK, "articles": UK["articles"][:1]}, "ru": RU_TEXT}},
     "same articles"),
    ("an empty article in one language", {"texts": {"uk": {**UK, "articles": [
        {**UK["articles"][0], "text": " "}, UK["articles"][1]]}, "ru": RU_TEXT}}, "the uk text: article 1 is empty"),
    ("texts without the list", {"languages": None}, "need the list of languages"),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_multilingual_text_is_refused(change, message):
    with pytest.raises(InputError, match=message):
        check_agreement_content(TEXT, text_content(**change))


def test_authenticity_clause():
    assert authenticity(["en", "uk", "ru"], None) == "en, uk, ru: each text equally authentic"
    assert authenticity(["en", "uk", "ru"], "en") == "en, uk, ru: en prevails in case of divergence"


def entry(seq, type_, content, party=TR):
    return wf.Entry(seq=seq, event_id=f"e{seq}", created=f"2025-05-16T09:00:{seq:02d}Z", author=f"head of {party}",
                    role="head", party=party, authority="member", audience=(UA, RU, TR), type=type_, content=content)


def objection(seq, party, article, language=None):
    return entry(seq, OBJECTION, {"agreement_id": "agreement-1", "version": 1, "article": article, "kind": "objection",
                                  "text": "No.", **({"language": language} if language else {})}, party)


def fold(*entries):
    return derive_agreements([entry(1, TEXT, text_content(prevailing="en")), *entries])


def test_each_language_has_its_canonical_text_and_digest():
    view = fold()[0]["agreement-1"].latest
    assert view.languages == ["en", "uk", "ru"] and view.prevailing == "en"
    assert view.texts["en"].sha256 == view.sha256 == text_sha256(view.text)
    assert view.texts["uk"].text.startswith("Меморандум\n\nArticle 1. Припинення вогню\nТридцять днів.")
    assert len({t.sha256 for t in view.texts.values()}) == 3
    assert view.authenticity == "en, uk, ru: en prevails in case of divergence"


def test_single_language_text_reads_as_english():
    agreements, violations = derive_agreements([entry(1, TEXT, {"agreement_id": "agreement-1", "version": 1,
                                                                 "title": "Memorandum", "articles": EN})])
    latest = agreements["agreement-1"].latest
    assert violations == [] and latest.languages == ["en"] and latest.texts["en"].text == latest.text


def test_objection_to_one_language_counts_against_that_text_only():
    view = fold(objection(2, RU, 1, "ru"), objection(3, UA, 2))[0]["agreement-1"]
    by_language = {code: {a["number"]: a["objected_by"] for a in view.article_status(code)} for code in ("en", "uk", "ru")}
    assert by_language == {"en": {1: [], 2: [UA]}, "uk": {1: [], 2: [UA]}, "ru": {1: [RU], 2: [UA]}}
    assert {a["number"]: a["objected_by"] for a in view.article_status()} == {1: [RU], 2: [UA]}


def test_objection_to_a_language_the_text_lacks_is_a_violation():
    agreements, violations = fold(objection(2, RU, 1, "fr"))
    assert agreements["agreement-1"].objections == [] and "has no fr text" in violations[0]


def test_withdrawing_an_objection_in_one_language_keeps_the_others():
    withdraw = entry(4, OBJECTION, {"agreement_id": "agreement-1", "version": 1, "article": 1, "kind": "withdraw",
                                    "text": "", "language": "ru"}, RU)
    view = fold(objection(2, RU, 1, "ru"), objection(3, RU, 1, "uk"), withdraw)[0]["agreement-1"]
    assert [(o.language, o.party) for o in view.objections] == [("uk", RU)]


def memo_entry(seq, memo_id, party, positions, uk=None):
    content = {"memo_id": memo_id, "version": 1, "title": "Positions", "positions": positions}
    if uk is not None:
        content.update(languages=["en", "uk"], texts={"uk": {"title": "Позиції", "positions": uk}})
    return entry(seq, wf.MEMO_DELIVER, content, party)


def test_positions_matrix_per_language():
    views = wf.derive_views([
        entry(1, wf.ISSUE_ADD, {"issue_id": "ceasefire", "title": "Ceasefire"}),
        memo_entry(2, "memo-ua", UA, {"ceasefire": "Thirty days."}, uk={"ceasefire": "Тридцять днів."}),
        memo_entry(3, "memo-ru", RU, {"ceasefire": "Ten days."}),
    ], {})
    assert views.violations == []
    english = wf.positions_matrix(views, [UA, RU])
    ukrainian = wf.positions_matrix(views, [UA, RU], "uk")
    assert english["languages"] == ["en", "uk"]
    assert english["issues"][0]["cells"][UA] == {"position": "Thirty days.", "stance": None, "language": "en"}
    assert ukrainian["issues"][0]["cells"][UA] == {"position": "Тридцять днів.", "stance": None, "language": "uk"}
    # No Ukrainian text: the cell shows the memorandum's own language and says so.
    assert ukrainian["issues"][0]["cells"][RU] == {"position": "Ten days.", "stance": None, "language": "en"}


def test_memorandum_translation_must_cover_the_same_issues():
    with pytest.raises(InputError, match="same key issues"):
        check_languages({"positions": {"ceasefire": "x", "prisoners": "y"}, "languages": ["en", "uk"],
                         "texts": {"uk": {"positions": {"ceasefire": "х"}}}}, parallel="positions")
