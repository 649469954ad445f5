"""Agreement drafts: one code per agreement, slots placed by their context (parley.tracing.drafts)."""

from __future__ import annotations

import difflib
import hashlib
import random
import re

import pytest

from parley.errors import InputError
from parley.tracing import DraftText, TracingSecret, agreement_code, trace_drafts
from parley.tracing.drafts import numbered_slots, read_drafts, version_preview, vetoed_contexts
from parley.tracing.sample import english_memo, english_memo_with_alternatives
from parley.tracing.simulate import normalise_wording

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


# ---- vetoes: a vetoed slot is not a slot of its version; no other slot moves ------------------------------

VETO_SENTENCE = " {The parties agree|The sides concur} to open the crossing points at dawn."
V_VETO = [V1[0] + VETO_SENTENCE, *V1[1:]]


def _numbered(drafts: dict[str, DraftText], wording: str) -> int:
    return next(found.number for found in numbered_slots(drafts) if found.slot.alternatives[1] == wording)


def test_preview_numbers_every_slot_of_a_version_and_lists_the_vetoed_ones() -> None:
    drafts = {"en": DraftText.prepare("en", V_VETO)}
    number = _numbered(drafts, "The sides concur")
    lines = version_preview(drafts, [number])
    assert len(lines) == len(numbered_slots(drafts)) == sum(len(a.slots) for a in drafts["en"].articles)
    assert [int(line.split(".")[0]) for line in lines] == list(range(1, len(lines) + 1))
    assert lines[number - 1].lstrip().startswith(f"{number}. author")
    assert "'The parties agree' / 'The sides concur'" in lines[number - 1]
    assert lines[number - 1].endswith("(article 1)   (vetoed)")
    assert sum("(vetoed)" in line for line in lines) == 1
    earlier = version_preview(drafts, [], vetoed_contexts(drafts, [number]))
    assert earlier[number - 1].endswith("(vetoed in an earlier version)")
    with pytest.raises(InputError, match="no variant number"):
        version_preview(drafts, [len(lines) + 1])
    # a text in several languages: one numbering, each line naming its article and language
    both = {**drafts, "fr": DraftText.prepare("fr", ["{Les parties conviennent|Les parties acceptent} de signer."])}
    lines = version_preview(both, [len(lines) + 1])
    assert lines[-1].startswith(f"{len(lines):>4}. author") and lines[-1].endswith("(article 1, fr)   (vetoed)")
    assert lines[number - 1].endswith("(article 1, en)")


def test_a_vetoed_variant_is_absent_from_every_readers_copy_and_moves_no_other_slot() -> None:
    full = DraftText.prepare("en", V_VETO)
    number = _numbered({"en": full}, "The sides concur")
    vetoed = full.without(vetoed_contexts({"en": full}, [number]))
    assert len(vetoed.joined.slots) == len(full.joined.slots) - 1 and len(vetoed.vetoed) == 1
    assert any("The sides concur" in full.copy(CODE, reader)[0] for reader in READERS)
    for reader in READERS:
        before, after = full.copy(CODE, reader), vetoed.copy(CODE, reader)
        assert "The sides concur" not in after[0] and "The parties agree to open" in after[0]
        # every other sentence reads as it did: the veto moves no slot's code position
        assert before[1:] == after[1:]
        assert _sentences(before[0])[:-1] == _sentences(after[0])[:-1]
    assert DraftText.from_json(vetoed.to_json()) == vetoed


def test_a_leak_of_a_version_with_a_vetoed_variant_still_names_its_reader() -> None:
    full = DraftText.prepare("en", V_VETO)
    vetoed = full.without(vetoed_contexts({"en": full}, [_numbered({"en": full}, "The sides concur")]))
    leaker = READERS[11]
    leak = " ".join(vetoed.copy(CODE, leaker)[:4])
    assert _accused(leak, [(1, D1), (2, vetoed)]) == [leaker]


def test_a_passage_vetoed_in_a_later_version_is_not_read_through_an_earlier_versions_slot() -> None:
    # version 1 varies the sentence, version 2 vetoes it: a leak of version 2 shows the canonical wording there for
    # every reader, which version 1's slot would read as a symbol of nobody's codeword
    full = DraftText.prepare("en", V_VETO)
    context = vetoed_contexts({"en": full}, [_numbered({"en": full}, "The sides concur")])
    vetoed = full.without(context)
    leak = vetoed.copy(CODE, READERS[3])[0]
    read = read_drafts(leak, [(1, full), (2, vetoed)], CODE)
    assert all(slot.alternatives[1] != "The sides concur" for slot, *_ in read.slots_read)
    assert len(read_drafts(leak, [(1, full)], CODE).slots_read) == len(read.slots_read) + 1


# ---- tampering notes, as for memoranda -------------------------------------------------------------------

def test_normalising_the_automatic_wording_of_a_draft_is_reported_and_author_wording_still_convicts() -> None:
    leaker = READERS[21]
    genuine = " ".join(D1.copy(CODE, leaker))
    report = trace_drafts(normalise_wording(genuine, D1.joined), AGREEMENT, DRAFTS, READERS, SECRET)
    assert any(note.startswith("wording normalised: all") for note in report.tampering)
    assert "wording normalised" in report.to_text()
    assert [a.recipient for a in report.accused] == [leaker]
    assert not any("normalised" in note for note in trace_drafts(genuine, AGREEMENT, DRAFTS, READERS,
                                                                   SECRET).tampering)


def test_normalising_a_draft_without_author_alternatives_accuses_nobody_and_says_why() -> None:
    plain = DraftText.prepare("en", [english_memo(1500, seed=40 + k).replace("\n\n", " ") for k in range(6)])
    leak = normalise_wording(" ".join(plain.copy(CODE, READERS[22])), plain.joined)
    report = trace_drafts(leak, AGREEMENT, [(1, plain)], READERS, SECRET)
    assert report.accused == []
    assert any(note.startswith("wording normalised") for note in report.tampering)
