"""Files everywhere a text goes: official responses, channel messages, meeting proposals and drafts carry
attachments like memoranda do (streamed chunk events; size and SHA-256 in the signed act), and bad input
fails clearly with nothing half-written."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import httpx
import pytest
from malicious_relay import event_id_of, use_transport

from parley.client.workflow import ATTACHMENT_CHUNK, Negotiation
from parley.errors import InputError, NotFoundError, ProtocolError, TransportError, VerificationError
from parley.protocol.bodies import Attachment


@pytest.fixture
def talks(trio):
    ua, ru = Negotiation(trio.ukraine, trio.nid), Negotiation(trio.russia, trio.nid)
    issue = ua.add_issue("Exchange of prisoners")
    memo = ua.deliver_memorandum("Memorandum", {issue: "All for all."}, to=[ua.party_id("Russian Federation")],
                                 tracing=False)
    ru.sync()
    return {"ua": ua, "ru": ru, "issue": issue, "memo": memo, "trio": trio}


@pytest.fixture
def big(tmp_path):
    path = tmp_path / "list of detainees.bin"
    path.write_bytes(bytes(range(256)) * 5000)  # 1.28 MB: three chunks
    return path


def _saved(reader: Negotiation, meta: Attachment, tmp_path, name: str) -> bytes:
    reader.sync()
    return reader.save_attachment(meta.attachment_id, tmp_path / name).read_bytes()


def test_an_official_response_carries_files(talks, big, tmp_path):
    ua, ru = talks["ua"], talks["ru"]
    ru.respond(talks["memo"], {talks["issue"]: {"stance": "counter", "text": "By category."}}, "See the list.",
               attachments=[big])
    ua.sync()
    (meta,) = ua.views().memoranda[talks["memo"]].responses[ru.own_party].attachments
    assert meta.size == big.stat().st_size and meta.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    assert meta.chunks == 3
    assert _saved(ua, meta, tmp_path, "r.bin") == big.read_bytes()


def test_a_channel_message_carries_files(talks, big, tmp_path):
    ua, ru = talks["ua"], talks["ru"]
    channel = ua.open_channel("Line", [ru.own_party])
    ua.channel_message(channel, "The list, as promised.", attachments=[big])
    ru.sync()
    (message,) = ru.views().channels[channel].messages
    (meta,) = message.attachments
    assert _saved(ru, meta, tmp_path, "c.bin") == big.read_bytes()


def test_a_meeting_proposal_carries_files(talks, tmp_path):
    ua, ru = talks["ua"], talks["ru"]
    programme = tmp_path / "programme.pdf"
    programme.write_bytes(b"%PDF-1.4 programme of the meeting")
    start = ua.client.clock() + timedelta(days=3)
    meeting = ua.propose_meeting(venue="Istanbul", start=start, end=start + timedelta(hours=4), timezone="UTC",
                                 level="delegation", parties=[ru.own_party], attachments=[programme])
    ru.sync()
    (meta,) = ru.views().meetings[meeting].attachments
    assert meta.name == "programme.pdf"
    assert _saved(ru, meta, tmp_path, "p.pdf") == programme.read_bytes()


def test_a_draft_carries_files_for_its_own_party_only(talks, big, tmp_path):
    ua, ru = talks["ua"], talks["ru"]
    draft = ua.draft_memorandum("Draft", {talks["issue"]: "Phased."}, attachments=[big])
    (meta,) = ua.views().drafts[draft][0].attachments
    assert _saved(ua, meta, tmp_path, "d.bin") == big.read_bytes()
    ru.sync()
    with pytest.raises(NotFoundError):
        ru.save_attachment(meta.attachment_id, tmp_path / "ru.bin")
    assert not (tmp_path / "ru.bin").exists() and not (tmp_path / "ru.bin.part").exists()


def _log_size(negotiation: Negotiation) -> int:
    negotiation.client.sync(negotiation.id)
    return negotiation.client.cache.last_seq(negotiation.id) + 1


def test_a_file_over_the_limit_is_refused_before_anything_is_posted(talks, tmp_path):
    ua, ru = talks["ua"], talks["ru"]
    channel = ua.open_channel("Line", [ru.own_party])
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as handle:
        handle.truncate(ua.client.limits.max_attachment_bytes + 1)  # sparse: no disk used
    before = _log_size(ua)
    for act in (lambda: ua.channel_message(channel, "x", attachments=[huge]),
                lambda: ru.respond(talks["memo"], {talks["issue"]: {"stance": "accept"}}, attachments=[huge]),
                lambda: ua.draft_memorandum("D", {talks["issue"]: "x"}, attachments=[huge])):
        with pytest.raises(InputError, match="over the limit"):
            act()
    assert _log_size(ua) == before


def test_an_act_refused_posts_none_of_its_files(talks, big):
    ua = talks["ua"]
    before = _log_size(ua)
    with pytest.raises(NotFoundError):
        ua.channel_message("channel-none", "x", attachments=[big])
    with pytest.raises(InputError, match="unknown key issue"):
        ua.draft_memorandum("D", {"unknown-issue": "x"}, attachments=[big])
    assert _log_size(ua) == before


def test_a_file_truncated_while_it_is_sent_is_refused_and_no_act_names_it(talks, big, monkeypatch):
    ua, ru = talks["ua"], talks["ru"]
    channel = ua.open_channel("Line", [ru.own_party])
    post = ua.client.post

    def truncating_post(nid, event_type, content, **kw):  # noqa: ANN001, ANN202
        posted = post(nid, event_type, content, **kw)
        if event_type == ATTACHMENT_CHUNK and content["index"] == 0:
            with big.open("r+b") as handle:  # someone else cuts the file short mid-upload
                handle.truncate(1000)
        return posted

    monkeypatch.setattr(ua.client, "post", truncating_post)
    with pytest.raises(InputError, match="changed while it was being sent"):
        ua.channel_message(channel, "The list.", attachments=[big])
    ru.sync()
    assert ru.views().channels[channel].messages == []
    assert ru.attachments() == []


def test_an_upload_cut_off_by_the_network_posts_no_act(talks, big, world):
    ua, ru = talks["ua"], talks["ru"]
    channel = ua.open_channel("Line", [ru.own_party])
    calls = {"chunks": 0}

    class CutOff(httpx.BaseTransport):
        def __init__(self, inner):  # noqa: ANN001
            self.inner = inner

        def handle_request(self, request):  # noqa: ANN001, ANN201
            if request.method == "POST" and request.url.path.endswith("/events"):
                calls["chunks"] += 1
                if calls["chunks"] == 2:
                    raise httpx.ConnectError("the line dropped")
            return self.inner.handle_request(request)

    use_transport(ua.client, CutOff(world.transport))
    with pytest.raises(TransportError):
        ua.channel_message(channel, "The list.", attachments=[big])
    ru.sync()
    assert ru.views().channels[channel].messages == []
    calls["chunks"] = -100  # the line is back: sending again works
    ua.channel_message(channel, "The list.", attachments=[big])
    ru.sync()
    assert len(ru.views().channels[channel].messages) == 1


def test_a_declared_digest_that_does_not_match_the_bytes_is_refused_and_nothing_is_written(talks, big, tmp_path):
    ua, ru = talks["ua"], talks["ru"]
    channel = ua.open_channel("Line", [ru.own_party])
    meta = ua._post_attachment(big, [ua.own_party, ru.own_party])
    # A sender (or its tampered client) declares other bytes than it sent: the act is signed, the file is not it.
    for lie in ({"sha256": hashlib.sha256(b"another file").hexdigest()}, {"size": meta["size"] - 1},
                {"chunks": meta["chunks"] + 1}):
        ua._post("channel.message", {"channel_id": channel, "text": "x", "attachments": [{**meta, **lie}]},
                 parties=[ua.own_party, ru.own_party])
        ru.sync()
        out = tmp_path / "got.bin"
        with pytest.raises(VerificationError, match="size and SHA-256 its sender declared|longer than"):
            ru.save_attachment(meta["attachment_id"], out)
        assert not out.exists() and not (tmp_path / "got.bin.part").exists()
        ua.client.sync(ua.id)


def test_relay_serving_other_attachment_bytes_is_refused(talks, big, compromise, tmp_path):
    ua, trio = talks["ua"], talks["trio"]
    evil = compromise(trio.swiss)
    swiss = Negotiation(trio.swiss, trio.nid)
    channel = ua.open_channel("All three", [ua.party_id("Russian Federation"), ua.party_id("Switzerland")])
    ua.channel_message(channel, "Two lists.", attachments=[big, big])
    chunks = [seq for seq, _, body, _ in ua.client.cache.events(trio.nid)
              if body is not None and body["type"] == ATTACHMENT_CHUNK]
    log = evil.full_log(trio.nid)
    first, other = (event_id_of(next(i for i in log if i["seq"] == seq)) for seq in (chunks[-6], chunks[-1]))

    def other_bytes(items):
        by_id = {event_id_of(i): i for i in items}
        by_id[first]["event"]["ciphertexts"] = by_id[other]["event"]["ciphertexts"]
        return items

    evil.events = other_bytes
    with pytest.raises(ProtocolError, match="does not match the digest its author signed"):
        trio.swiss.sync(trio.nid)
    evil.honest()
    swiss.sync()
    (message,) = swiss.views().channels[channel].messages
    assert swiss.save_attachment(message.attachments[0].attachment_id,
                                 tmp_path / "s.bin").read_bytes() == big.read_bytes()


def test_a_chunk_that_decodes_to_other_bytes_than_declared_is_refused(talks, tmp_path):
    # The chunk events' data is base64 checked strictly: a chunk with a stray character is not silently skipped.
    ua, ru = talks["ua"], talks["ru"]
    channel = ua.open_channel("Line", [ru.own_party])
    parties = [ua.own_party, ru.own_party]
    ua.client.post(ua.id, ATTACHMENT_CHUNK, {"attachment_id": "att-bad", "index": 0, "total": 1,
                                             "data": base64.b64encode(b"abc").decode() + "!"}, parties=parties)
    ua._post("channel.message", {"channel_id": channel, "text": "x", "attachments": [
        {"attachment_id": "att-bad", "name": "x.bin", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest(),
         "chunks": 1}]}, parties=parties)
    ru.sync()
    with pytest.raises(VerificationError, match="not base64"):
        ru.save_attachment("att-bad", tmp_path / "x.bin")
    assert not (tmp_path / "x.bin.part").exists()
