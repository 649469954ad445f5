"""An act with files is one staged act: its chunk events and the act that names them are posted together, or
the act is not posted at all; a crash part way is finished by the next act, never left half done."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from malicious_relay import use_transport

from parley.client import offline
from parley.client.sdk import Client
from parley.client.workflow import ATTACHMENT_CHUNK, Negotiation


class ProcessKilledOnPost(httpx.BaseTransport):
    """The honest relay until the Nth event post, where the process dies (nothing more runs in it)."""

    def __init__(self, inner: httpx.BaseTransport, nth: int) -> None:
        self.inner, self.nth, self.posts = inner, nth, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/events"):
            self.posts += 1
            if self.posts == self.nth:
                raise SystemExit("killed")  # not a parley error: no handler of the act runs
        return self.inner.handle_request(request)


@pytest.fixture
def pair(trio):  # noqa: ANN001, ANN201
    ua, ru = Negotiation(trio.ukraine, trio.nid), Negotiation(trio.russia, trio.nid)
    issue = ua.add_issue("Exchange of prisoners")
    ru.sync()
    return ua, ru, issue


@pytest.fixture
def detainees(tmp_path):  # noqa: ANN001, ANN201
    path = tmp_path / "detainees.bin"
    path.write_bytes(bytes(range(256)) * 5000)  # three chunks
    return path


def _memoranda(reader: Negotiation) -> dict:
    reader.sync()
    return reader.views().memoranda


def test_crash_between_a_file_and_its_memorandum_is_finished_by_the_next_act(pair, detainees, world, tmp_path):  # noqa: ANN001
    # Before: the chunks were posted one by one and the memorandum after them; a process killed in between
    # left the file's chunks in the log with no memorandum, for ever.
    ua, ru, issue = pair
    use_transport(ua.client, ProcessKilledOnPost(world.transport, nth=3))
    with pytest.raises(SystemExit):
        ua.deliver_memorandum("List of detainees", {issue: "All for all."}, to=[ru.own_party],
                              attachments=[detainees], tracing=False)
    assert _memoranda(ru) == {}  # half an act is not shown, and not lost either:
    assert offline.pending_count(ua.client) == 2  # the third chunk and the memorandum wait in the outbox

    # The next process on the profile (any act) posts the rest first, in order, exactly once.
    again = Negotiation(Client(ua.client.profile, transport=world.transport, clock=world.clock), ua.id)
    again.add_issue("Ceasefire")
    (memo,) = _memoranda(ru).values()
    (meta,) = memo.attachments
    saved = ru.save_attachment(meta.attachment_id, tmp_path / "saved.bin").read_bytes()
    assert hashlib.sha256(saved).hexdigest() == hashlib.sha256(detainees.read_bytes()).hexdigest()
    chunks = [body for _, _, body, _ in ru.client.cache.events(ru.id) if body and body["type"] == ATTACHMENT_CHUNK]
    assert len(chunks) == 3  # no chunk posted twice
    assert offline.pending_count(again.client) == 0
    # Posted, the file is in the log: the outbox keeps how each item ended, not a second copy of the file.
    kept = again.client.cache.db.execute("SELECT state, params FROM outbox").fetchall()
    assert kept and all(state == "posted" and params == "{}" for state, params in kept)


def test_act_cut_short_while_staging_posts_nothing(pair, detainees, tmp_path):  # noqa: ANN001
    ua, ru, issue = pair
    missing = tmp_path / "gone.bin"
    missing.write_bytes(b"x")
    real_post = ua._post_attachment

    def vanishing(path, parties):  # noqa: ANN001, ANN202 - the second file disappears while the act is staged
        if path == missing:
            missing.unlink()
        return real_post(path, parties)

    ua._post_attachment = vanishing
    with pytest.raises(OSError):
        ua.deliver_memorandum("Lists", {issue: "All for all."}, to=[ru.own_party], attachments=[detainees, missing],
                              tracing=False)
    assert offline.pending_count(ua.client) == 0
    assert _memoranda(ru) == {}
    assert not any(body and body["type"] == ATTACHMENT_CHUNK for _, _, body, _ in ru.client.cache.events(ru.id))


def test_refused_act_takes_its_files_with_it(pair, detainees):  # noqa: ANN001
    ua, ru, _issue = pair
    with pytest.raises(Exception, match="unknown key issue"):
        ua.deliver_memorandum("Lists", {"no-such-issue": "x"}, to=[ru.own_party], attachments=[detainees],
                              tracing=False)
    assert offline.pending_count(ua.client) == 0
    assert not any(body and body["type"] == ATTACHMENT_CHUNK for _, _, body, _ in ru.client.cache.events(ru.id))
