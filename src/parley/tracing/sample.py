"""Deterministic sample documents for simulations: an English memorandum and a Russian one.

They mix what real negotiation texts hold (names, amounts, dates, section numbers, URLs,
quoted defined terms) into ordinary prose, so the measured capacity per character is
realistic rather than the best case of plain prose.
"""

from __future__ import annotations

import random
import re

_EN_WORDS = (
    "the parties agree that any payment under this agreement shall be made within thirty days "
    "of the invoice date and that late payment will accrue interest at the rate set out below "
    "each party will keep the terms of the offer confidential and will not disclose them to "
    "third parties except to its advisers who are bound by similar obligations of secrecy the "
    "buyer may terminate the contract if the seller fails to deliver the goods on time or if "
    "the quality of the goods does not meet the agreed specification the seller accepts "
    "liability for defects discovered during the warranty period and will repair or replace "
    "defective items at its own cost the price includes delivery insurance and packaging but "
    "excludes value added tax which will be charged separately both sides expect to sign the "
    "final version after the board has approved the proposed changes to the schedule we "
    "propose a revised timetable in which the first instalment is due on signature and the "
    "balance on completion of the acceptance tests our position on exclusivity remains "
    "unchanged although we are willing to discuss a shorter initial term"
).split()
_EN_NAMES = ("Alice Martin", "Northwind Ltd", "Jonas Weber", "Mrs Okafor", "Helsinki", "Acme Holdings")
_EN_TERMS = ('"Confidential Information"', '"Effective Date"', '"Purchase Price"', '"Services"')
_EN_EXTRAS = (
    "EUR 1,250,000", "12 March 2025", "Section 4.2", "clause 7(b)", "https://example.org/terms",
    "legal@example.com", "30 days", "3.5%",
)  # fmt: skip

_RU_WORDS = (
    "стороны договорились что оплата по настоящему договору производится в течение тридцати "
    "дней с даты выставления счета а просрочка платежа влечет начисление процентов по ставке "
    "указанной ниже каждая сторона обязуется сохранять условия предложения в тайне и не "
    "раскрывать их третьим лицам за исключением своих консультантов покупатель вправе "
    "расторгнуть договор если продавец не поставит товар в срок или качество товара не "
    "соответствует согласованной спецификации продавец несет ответственность за недостатки "
    "обнаруженные в течение гарантийного срока и обязуется заменить дефектные изделия за свой "
    "счет цена включает доставку страхование и упаковку но не включает налог на добавленную "
    "стоимость мы предлагаем новый график по которому первый платеж вносится при подписании "
    "а остаток после завершения приемочных испытаний наша позиция по эксклюзивности остается "
    "прежней хотя мы готовы обсудить более короткий первоначальный срок"
).split()
_RU_NAMES = ("Анна Петрова", "ООО Северный ветер", "Москва", "Игорь Смирнов")
_RU_TERMS = ("«Конфиденциальная информация»", "«Дата вступления в силу»")
_RU_EXTRAS = ("1 250 000 рублей", "12 марта 2025 г.", "пункт 4.2", "https://example.org/terms", "30 дней")


def _document(
    words: tuple[str, ...],
    names: tuple[str, ...],
    terms: tuple[str, ...],
    extras: tuple[str, ...],
    chars: int,
    seed: int,
) -> str:
    rng = random.Random(seed)  # noqa: S311 - simulation text, not a secret
    paragraphs: list[str] = []
    size = 0
    while size < chars:
        sentences = []
        for _ in range(rng.randint(2, 5)):
            n = rng.randint(8, 24)
            parts = [rng.choice(words) for _ in range(n)]
            # now and then a name, an amount or date, a quoted defined term
            if rng.random() < 0.45:
                parts.insert(rng.randrange(1, n), rng.choice(names))
            if rng.random() < 0.35:
                parts.insert(rng.randrange(1, n), rng.choice(extras))
            if rng.random() < 0.2:
                parts.insert(rng.randrange(1, n), rng.choice(terms))
            if rng.random() < 0.3:
                parts[rng.randrange(2, n - 1)] += ","
            first = parts[0]
            parts[0] = first[0].upper() + first[1:]
            sentences.append(" ".join(parts) + ".")
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(paragraphs)


def english_memo(chars: int = 20000, seed: int = 1) -> str:
    """An English-like negotiation memorandum of about ``chars`` characters."""
    return _document(_EN_WORDS, _EN_NAMES, _EN_TERMS, _EN_EXTRAS, chars, seed)


#: equivalent wordings an author might offer for words of the sample vocabulary
AUTHOR_SYNONYMS = {
    "agree": "consent", "terms": "conditions", "discuss": "consider", "defects": "faults",
    "goods": "products", "offer": "proposal", "cost": "expense", "schedule": "timetable",
    "expect": "intend", "propose": "suggest", "revised": "amended", "unchanged": "the same",
    "shorter": "briefer", "willing": "prepared", "obligations": "duties", "advisers": "counsel",
    "repair": "mend", "confidential": "secret", "separately": "on its own", "final": "definitive",
    "balance": "remainder", "due": "payable", "disclose": "reveal", "specification": "specifications",
    "instalment": "part payment", "completion": "conclusion", "changes": "amendments",
}  # fmt: skip


def english_memo_with_alternatives(chars: int = 20000, seed: int = 1, share: float = 0.5) -> str:
    """``english_memo`` where the author wrote ``{word|synonym}`` for a ``share`` of the words that have one."""
    rng = random.Random(seed * 7919 + 17)  # noqa: S311 - simulation text, not a secret
    text = english_memo(chars, seed)

    def offer(m: re.Match[str]) -> str:
        word = m.group()
        if word in AUTHOR_SYNONYMS and rng.random() < share:
            return "{" + word + "|" + AUTHOR_SYNONYMS[word] + "}"
        return word

    return re.sub(r"[a-z]+", offer, text)


def russian_memo(chars: int = 20000, seed: int = 1) -> str:
    """A Russian (Cyrillic) negotiation memorandum of about ``chars`` characters."""
    return _document(_RU_WORDS, _RU_NAMES, _RU_TERMS, _RU_EXTRAS, chars, seed)
