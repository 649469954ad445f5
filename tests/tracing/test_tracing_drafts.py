"""Agreement drafts: one code per agreement, slots placed by their context (parley.tracing.drafts)."""

from __future__ import annotations

import difflib
import hashlib
import random
import re

import pytest

from parley.errors import InputError
from parley.tracing import DraftText, TracingSecret, agreement_code, trace_drafts
from parley.tracing.sample import english_memo_with_alternatives

N = 40
READERS = [f"device-{i:02d}" for i in range(N)]
SECRET = TracingSecret.from_seed(hashlib.sha256(b"drafts").digest(), N)
AGREEMENT = "accord"
CODE = agreement_code(SECRET, AGREEMENT)


def _articles(seed: int, count: int = 6, chars: int = 1500) -> list[str]:
    return [english_memo_with_alternatives(chars, seed=seed + k, share=0.7).replace("\n\n", " ") for k in range(count)]


V1 = _articles(40)
# version 2: article 2 gains a sentence, article 4 loses one, article 5 is rewritten; the rest stays
V2 = list(V1)
V2[1] = V1[1] + " The parties will meet again in Geneva before the end of the year."
V2[3] = re.sub(r"^[^.]*\. ", "", V1[3])
V2[4] = english_memo_with_alternatives(1500, seed=99, share=0.7).replace("\n\n", " ")
D1, D2 = DraftText.prepare("en", V1), DraftText.prepare("en", V2)
DRAFTS = [(1, D1), (2, D2)]


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.;:])\s+", text)


def _accused(leak: str, drafts=DRAFTS) -> list[str]:  # noqa: ANN001
    return [a.recipient for a in trace_drafts(leak, AGREEMENT, drafts, READERS, SECRET).accused]


def test_a_slot_unchanged_between_versions_keeps_each_readers_wording() -> None:
    # an article the new version leaves alone reads alike in one reader's two copies; copies of two readers differ
    for reader in READERS[:5]:
        first, second = D1.copy(CODE, reader), D2.copy(CODE, reader)
        for k in (0, 2, 5):
            assert first[k] == second[k]
    assert D1.copy(CODE, READERS[0]) != D1.copy(CODE, READERS[1])


def test_a_readers_redline_between_versions_shows_only_the_real_edits() -> None:
    # every sentence that the canonical redline leaves unchanged is unchanged in the reader's two copies too:
    # the variants never show up as edits (a sentence the mediator edited may read anew)
    for reader in READERS[:8]:
        first, second = D1.copy(CODE, reader), D2.copy(CODE, reader)
        for k in range(len(V1)):
            canon_old, canon_new = _sentences(D1.canonical[k]), _sentences(D2.canonical[k])
            mine_old, mine_new = _sentences(first[k]), _sentences(second[k])
            assert (len(mine_old), len(mine_new)) == (len(canon_old), len(canon_new))
            matcher = difflib.SequenceMatcher(None, canon_old, canon_new, autojunk=False)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes():
                if tag == "equal":
                    assert mine_old[i1:i2] == mine_new[j1:j2]


def test_retyped_excerpt_of_a_draft_names_its_reader_and_version() -> None:
    leaker = READERS[17]
    copy = D2.copy(CODE, leaker)
    # retyped: three articles, re-flowed, lower-cased, one word misspelt; no copy line
    excerpt = " ".join(copy[3:6]).lower().replace("  ", " ").replace(" the ", " teh ", 1)
    report = trace_drafts(excerpt, AGREEMENT, DRAFTS, READERS, SECRET)
    assert [a.recipient for a in report.accused] == [leaker]
    assert report.versions == (2,)
    assert "draft version 2" in report.to_text()


def test_two_versions_held_by_one_reader_do_not_act_as_two_colluders() -> None:
    # a leak pieced together from one reader's versions 1 and 2 is one codeword's symbols: it names him alone,
    # and more surely than either half (two independently coded versions would read as noise against each other)
    leaker = READERS[5]
    old, new = D1.copy(CODE, leaker), D2.copy(CODE, leaker)
    mixed = " ".join(old[:2] + new[4:])
    report = trace_drafts(mixed, AGREEMENT, DRAFTS, READERS, SECRET)
    assert [a.recipient for a in report.accused] == [leaker]
    half = trace_drafts(" ".join(old[:2]), AGREEMENT, DRAFTS, READERS, SECRET)
    assert report.scores[leaker] > half.scores[leaker]


def test_colluders_mixing_their_drafts_of_several_versions_never_accuse_an_innocent() -> None:
    # property: three colluders choose at random, sentence by sentence, among their copies of both versions;
    # whatever they piece together, nobody outside them is accused (and their scores lead)
    rng = random.Random(7)
    leading = 0
    for trial in range(12):
        colluders = rng.sample(READERS, 3)
        copies = [draft.copy(CODE, c) for c in colluders for _, draft in DRAFTS]
        pieces = []
        for k in range(len(V1)):
            sentences = [_sentences(copy[k]) for copy in copies]
            pieces += [rng.choice(sentences)[j] for j in range(min(map(len, sentences)))]
        report = trace_drafts(" ".join(pieces), AGREEMENT, DRAFTS, READERS, SECRET)
        assert {a.recipient for a in report.accused} <= set(colluders), f"trial {trial}: innocent accused"
        leading += max(report.scores, key=report.scores.get) in colluders
    assert leading >= 9


def test_a_text_that_is_no_copy_accuses_nobody() -> None:
    assert _accused(" ".join(D2.canonical)) == []
    assert _accused("Nothing of the agreement is in this text at all.") == []


def test_draft_text_round_trips_and_refuses_malformed_records() -> None:
    assert DraftText.from_json(D1.to_json()) == D1
    broken = D1.to_json()
    broken["contexts"] = broken["contexts"][:-1]
    with pytest.raises(InputError):
        DraftText.from_json(broken)
    with pytest.raises(InputError):
        DraftText.from_json({"format": "other"})


def test_screenshot_of_a_draft_page_without_its_copy_line_names_its_reader(tmp_path) -> None:  # noqa: ANN001
    # the reader's draft rendered to a PDF page, screenshot with the copy line cropped off, read by OCR
    from parley.client.pdf import memorandum_pdf
    from parley.tracing.extract import leaked_text, render_pdf_page

    leaker = READERS[23]
    copy = D2.copy(CODE, leaker)
    pdf = tmp_path / "draft.pdf"
    memorandum_pdf(pdf, title="Accord, draft version 2", sections=[(f"Article {k + 1}", copy[k]) for k in range(3)],
                   sender="Mediator", delivered_at="2026-12-07 10:00 UTC",
                   copy_line="Copy for A, B, 2026-12-07 10:00 UTC, copy no. 24")
    page = render_pdf_page(pdf, 0, dpi=150)
    width, height = page.size
    shot = tmp_path / "shot.png"
    page.crop((0, int(height * 0.09), width, int(height * 0.93))).save(shot)
    text = leaked_text(shot)
    assert "Copy for" not in text
    assert _accused(text) == [leaker]
