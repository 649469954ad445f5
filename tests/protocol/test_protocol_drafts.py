"""A party's internal memorandum drafts in the pure fold: numbering, privacy of the audience, lineage."""

from __future__ import annotations

import pytest

from parley.errors import InputError
from parley.protocol import workflow as wf

UA, RU = "party-ua", "party-ru"


class Log:
    def __init__(self) -> None:
        self.entries: list[wf.Entry] = [self._entry(wf.ISSUE_ADD, {"issue_id": "ceasefire", "title": "Ceasefire"},
                                                    UA, (UA, RU))]

    def _entry(self, type_, content, party, audience):
        seq = len(getattr(self, "entries", [])) + 1
        return wf.Entry(seq=seq, event_id=f"e{seq}", created=f"2025-05-16T09:00:{seq:02d}Z", author="author",
                        role="head", party=party, authority="member", audience=audience, type=type_, content=content)

    def draft(self, version, text, *, memo_id="memo-1", party=UA, audience=None):
        self.entries.append(self._entry(wf.MEMO_DRAFT, {"memo_id": memo_id, "version": version, "title": "Positions",
                                                         "positions": {"ceasefire": text}}, party,
                                        audience or (party,)))
        return self

    def deliver(self, version, text, *, memo_id="memo-1", party=UA):
        self.entries.append(self._entry(wf.MEMO_DELIVER, {"memo_id": memo_id, "version": version, "title": "Positions",
                                                           "positions": {"ceasefire": text}}, party, (UA, RU)))
        return self

    def views(self):
        return wf.derive_views(self.entries, {})


def test_delivered_versions_keep_the_draft_id_and_the_draft_they_came_from():
    views = Log().draft(1, "Sixty days.").draft(2, "Thirty days.").deliver(1, "Thirty days.") \
        .draft(3, "Twenty days.").deliver(2, "Twenty days.").views()
    memo = views.memoranda["memo-1"]
    assert [(v.version, v.from_draft) for v in memo.versions] == [(1, 2), (2, 3)]
    assert memo.from_draft == 3
    assert [d.version for d in views.drafts["memo-1"]] == [1, 2, 3]


def test_memorandum_delivered_without_a_draft_has_no_lineage():
    memo = Log().deliver(1, "Thirty days.").views().memoranda["memo-1"]
    assert memo.from_draft is None and memo.versions[0].from_draft is None


def test_memo_texts_label_drafts_and_delivered_versions():
    views = Log().draft(1, "Sixty days.").deliver(1, "Thirty days.").views()
    texts = wf.memo_texts(views, "memo-1")
    assert {label: (t["kind"], t["positions"]["ceasefire"]) for label, t in texts.items()} == {
        "d1": ("draft", "Sixty days."), "1": ("delivered", "Thirty days.")}
    assert "+Thirty days." in wf.redline(texts["d1"]["positions"], texts["1"]["positions"])


@pytest.mark.parametrize(("asked", "delivered", "label"), [
    (2, True, "2"), ("2", True, "2"), ("d2", True, "d2"), ("draft2", True, "d2"), ("draft-2", True, "d2"),
    (2, False, "d2"),  # nothing delivered yet: plain numbers name drafts, as the redline always read them
])
def test_version_labels(asked, delivered, label):
    log = Log().draft(1, "a").draft(2, "b")
    if delivered:
        log.deliver(1, "b")
    assert wf.version_label(asked, log.views(), "memo-1") == label


def test_malformed_version_label_is_refused():
    with pytest.raises(InputError, match="d \\+ a number"):
        wf.version_label("latest", Log().views(), "memo-1")


REFUSED = [
    ("a draft addressed to another party", Log().draft(1, "x", audience=(UA, RU)), "own party only"),
    ("a draft version skipped", Log().draft(1, "x").draft(3, "y"), "one after another"),
    ("a draft under another party's memorandum", Log().deliver(1, "x").draft(1, "y", party=RU), "another party's"),
    ("a draft under another party's draft id", Log().draft(1, "x").draft(2, "y", party=RU), "another party's draft"),
]


@pytest.mark.parametrize(("log", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_drafts_are_violations(log, message):
    views = log.views()
    assert any(message in v for v in views.violations), views.violations
