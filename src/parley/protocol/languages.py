"""Texts in several languages: one text per language, declared equally authentic or with one prevailing.

Treaties between these parties are "done in Ukrainian, Russian and English, each text being equally
authentic" (or "in case of divergence, the English text shall prevail"). An agreement text version (and a
memorandum) carries its first language in its usual fields and the other languages alongside:

    "languages": ["en", "uk", "ru"],          the first is the language of "title" / "articles"
    "texts": {"uk": {"title", "articles"}, "ru": {...}},
    "prevailing": null | "en"                 null: every text equally authentic

Every language has the same articles, numbered alike (parallel texts), so an objection, a redline or a
signature names an article and a language. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from parley.errors import InputError

#: BCP 47 primary language subtag with an optional region ("en", "uk", "ru", "pt-BR")
_CODE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
MAX_LANGUAGES = 8
#: names shown next to the codes (each in its own language); other codes are shown as they are
NAMES = {"en": "English", "uk": "Українська", "ru": "Русский", "tr": "Türkçe", "fr": "Français", "de": "Deutsch",
         "es": "Español", "ar": "العربية", "zh": "中文"}
DEFAULT_LANGUAGE = "en"


def language_name(code: str) -> str:
    return NAMES.get(code, code)


def check_language(code: object) -> str:
    """Raises: InputError for anything but a language code such as ``en``, ``uk`` or ``pt-BR``."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise InputError(f"a language is a code such as en, uk or ru, not '{code}'")
    return code


def authenticity(languages: list[str], prevailing: str | None) -> str:
    """The authenticity clause, in the form the signed documents name it.

    >>> authenticity(["en", "uk", "ru"], None)
    'en, uk, ru: each text equally authentic'
    >>> authenticity(["en", "uk", "ru"], "en")
    'en, uk, ru: en prevails in case of divergence'
    """
    listed = ", ".join(languages)
    return f"{listed}: {prevailing} prevails in case of divergence" if prevailing else \
        f"{listed}: each text equally authentic"


def check_languages(content: Mapping[str, Any] | Any, *, parallel: str) -> list[str]:
    """Validate the language fields of a content (absent: one text in the default language).

    ``parallel`` names what every language must give alike: ``"articles"`` (an agreement text, numbered
    alike) or ``"positions"`` (a memorandum, on the same key issues). Returns the languages, first one first.

    Raises:
        InputError: a bad code, a language listed twice, a text missing or extra, a prevailing language not
            among them, or texts that are not parallel (other articles or issues than the first language's).
    """
    if isinstance(content, msgspec.Struct):  # a typed body (parley.protocol.bodies)
        if getattr(content, "languages", None) is None:
            if getattr(content, "texts", None) or getattr(content, "prevailing", None) is not None:
                raise InputError("texts in other languages need the list of languages")
            return [DEFAULT_LANGUAGE]
        content = msgspec.to_builtins(content)
    languages = content.get("languages")
    texts = content.get("texts") or {}
    prevailing = content.get("prevailing")
    if languages is None:
        if texts or prevailing is not None:
            raise InputError("texts in other languages need the list of languages")
        return [DEFAULT_LANGUAGE]
    if not isinstance(languages, list) or not languages or len(languages) > MAX_LANGUAGES:
        raise InputError(f"languages must list 1 to {MAX_LANGUAGES} language codes")
    for code in languages:
        check_language(code)
    if len(set(languages)) != len(languages):
        raise InputError("a language is listed twice")
    if not isinstance(texts, Mapping) or set(texts) != set(languages[1:]):
        missing = sorted(set(languages[1:]) - set(texts if isinstance(texts, Mapping) else {}))
        raise InputError(f"one text per language: missing {', '.join(missing)}" if missing
                         else "a text in a language that is not listed")
    if prevailing is not None and prevailing not in languages:
        raise InputError(f"the prevailing language '{prevailing}' is not one of the texts")
    for code in languages[1:]:
        text = texts[code]
        if not isinstance(text, Mapping):
            raise InputError(f"the {code} text must be an object")
        if parallel == "articles":
            ours = [a.get("number") for a in text.get("articles", []) if isinstance(a, Mapping)]
            first = [a.get("number") for a in content.get("articles", []) if isinstance(a, Mapping)]
            if ours != first:
                raise InputError(f"the {code} text must have the same articles as the {languages[0]} text "
                                 f"({len(first)}), numbered alike")
        else:
            positions = text.get("positions")
            if not isinstance(positions, Mapping) or set(positions) != set(content.get("positions") or {}):
                raise InputError(f"the {code} text must take a position on the same key issues as the "
                                 f"{languages[0]} text")
            if not all(isinstance(v, str) and v.strip() for v in positions.values()):
                raise InputError(f"a position of the {code} text is empty")
    return list(languages)


def texts_by_language(content: Mapping[str, Any] | Any, fields: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Each language's fields (``("title", "articles")`` or ``("title", "positions")``), first language first,
    from a content that ``check_languages`` accepted (a mapping or a typed body; the fields as plain values)."""
    if isinstance(content, msgspec.Struct):
        if getattr(content, "languages", None) is None:
            return {DEFAULT_LANGUAGE: {f: msgspec.to_builtins(getattr(content, f, None)) for f in fields}}
        content = msgspec.to_builtins(content)
    languages = content.get("languages") or [DEFAULT_LANGUAGE]
    out = {languages[0]: {f: content.get(f) for f in fields}}
    for code in languages[1:]:
        out[code] = {f: content["texts"][code].get(f, content.get(f) if f == "title" else None) for f in fields}
    return out


__all__ = ["DEFAULT_LANGUAGE", "MAX_LANGUAGES", "authenticity", "check_language", "check_languages",
           "language_name", "texts_by_language"]
