"""Pages of events are written as bytes, with the reader-independent part of recent events cached: the answer
must stay exactly the JSON the relay wrote before (``orjson.dumps`` of the page as a dict), for every reader,
cached or not, and the cache must stay within its bound."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import httpx
import orjson

from parley.crypto.httpsig import sign_request
from parley.relay.listing import PageWriter


def _page_as_a_dict(world, negotiation_id: str, reader: str, after: int = -1, limit: int = 1000) -> bytes:  # noqa: ANN001
    """The page as the relay wrote it before the page writer: built from ``RelayStore.events``; an encrypted
    event whose audience leaves out the reader's party as its hidden entry."""
    head = world.store.head(negotiation_id)
    party = world.relay.ingestor.state(negotiation_id).members[reader].party_id
    rows = [r for r in world.store.events(negotiation_id, after, limit, reader=reader) if r.seq < head.size]
    events = []
    for row in rows:
        header = orjson.loads(row.header)
        if header.get("tags") is not None and party not in header["audience"]["parties"]:
            events.append({"seq": row.seq, "hidden": {"event": hashlib.sha256(row.header).hexdigest(),
                                                      "nonce": header["nonce"], "tags": header["tags"]}})
            continue
        count = len(header["ciphertexts"])
        ciphertexts = [base64.b64encode(row.ciphertexts[i]).decode() if i in row.ciphertexts else None
                       for i in range(count)]
        events.append({"seq": row.seq, "received_at": row.received_at, "event": {
            "header": orjson.Fragment(row.header), "signature": row.signature, "ciphertexts": ciphertexts}})
    return orjson.dumps({"negotiation_id": negotiation_id, "size": head.size, "checkpoint": head.checkpoint,
                         "events": events})


def _answer(world, client, negotiation_id: str, after: int = -1) -> httpx.Response:  # noqa: ANN001
    request = httpx.Request("GET", f"http://relay/v1/negotiations/{negotiation_id}/events",
                            params={"after": after, "limit": 1000})
    sign_request(request, key_id=client.identity.device_key_id, private_key=client.identity.signing.private)
    with httpx.Client(transport=world.transport) as http:
        response = http.send(request)
    assert response.status_code == 200, response.text
    return response


def _listed(world, client, negotiation_id: str, after: int = -1) -> bytes:  # noqa: ANN001
    return _answer(world, client, negotiation_id, after).content


def _busy_negotiation(world):  # noqa: ANN001, ANN202
    """Public and encrypted events, one ciphertext per recipient (tracing) among them, and a delegate who may
    read only some of them."""
    ua, ru = world.party("Ukraine"), world.party("Russia")
    delegate = world.member(ua, "Delegate")
    nid = world.negotiation(ua, ru)
    ua.send_message(nid, "to everyone")
    ru.post(nid, "message", {"text": "heads only"}, roles=["head"])
    ua.post(nid, "message", {"text": "one copy each"}, copies=lambda cert: {"text": f"copy of {cert.member}"})
    ru.send_message(nid, "with a \"quote\" and ünicode")
    return nid, ua, ru, delegate


def test_pages_are_the_same_bytes_as_before_for_every_reader_cached_or_not(world) -> None:  # noqa: ANN001
    nid, ua, ru, delegate = _busy_negotiation(world)
    size = world.store.head(nid).size

    def every_reader_gets_the_page_as_before() -> None:
        for client in (ua, ru, delegate):
            expected = _page_as_a_dict(world, nid, client.identity.device_key_id)
            assert _listed(world, client, nid) == expected
            assert _listed(world, client, nid) == expected
            expected_tail = _page_as_a_dict(world, nid, client.identity.device_key_id, after=3)
            assert _listed(world, client, nid, after=3) == expected_tail

    # Written as the posts were committed (PageWriter.remember_posted): no event is written out again.
    every_reader_gets_the_page_as_before()
    assert world.relay.pages.misses == 0 and world.relay.pages.hits >= size
    # Written from the stored rows (a relay process that did not take the posts): the same bytes.
    world.relay.pages = PageWriter(world.relay.limits.max_page_cache_bytes)
    every_reader_gets_the_page_as_before()
    assert world.relay.pages.hits > world.relay.pages.misses == size
    # what the delegate may not read is null, and the page still parses as the client reads it
    page = orjson.loads(_listed(world, delegate, nid))
    assert any(c is None for e in page["events"] if "event" in e for c in e["event"]["ciphertexts"])
    # Ukraine's tracing record (for Ukraine only) reaches Russia as its hidden entry.
    assert any("hidden" in e for e in orjson.loads(_listed(world, ru, nid))["events"])


def test_page_cache_stays_within_its_bound_and_pages_stay_right(world) -> None:  # noqa: ANN001
    nid, ua, _ru, _delegate = _busy_negotiation(world)
    world.relay.pages = PageWriter(max_cache_bytes=3_000)
    expected = _page_as_a_dict(world, nid, ua.identity.device_key_id)
    for _ in range(3):
        assert _listed(world, ua, nid) == expected
        assert 0 < world.relay.pages.cached_bytes <= 3_000
    tiny = PageWriter(max_cache_bytes=0)
    world.relay.pages = tiny
    assert _listed(world, ua, nid) == expected
    assert tiny.cached_bytes == 0 and tiny.hits == 0


def test_a_page_is_bounded_in_bytes_one_event_at_least_in_the_same_format(any_db_world) -> None:  # noqa: ANN001
    """Large events (a file's chunks) make short pages: a page ends before the event that would take its
    headers and ciphertexts past ``max_page_bytes``, its first event always in; what is served is the same
    bytes as a page of that many events. On SQLite and PostgreSQL (the lengths are read in SQL)."""
    world = any_db_world
    ua, ru = world.party("Ukraine"), world.party("Russia")
    nid = world.negotiation(ua, ru)
    first = world.store.head(nid).size
    for n in range(5):
        ua.send_message(nid, f"{n} " + "annex text " * 9_000)  # ~100 KB of ciphertext each
    reader = ru.identity.device_key_id
    big = len(world.store.events(nid, first - 1, 1, reader=reader)[0].ciphertexts[0])
    assert big > 90_000

    def pages(max_page_bytes: int) -> list[int]:
        """Events per page, walking the log from ``first``; each page checked against its dict form."""
        world.relay.limits = replace(world.relay.limits, max_page_bytes=max_page_bytes)
        counts, after = [], first - 1
        while True:
            page = _listed(world, ru, nid, after)
            events = orjson.loads(page)["events"]
            if not events:
                return counts
            assert page == _page_as_a_dict(world, nid, reader, after, limit=len(events))
            counts.append(len(events))
            after = events[-1]["seq"]

    assert pages(1) == [1, 1, 1, 1, 1]  # every event alone over the bound: one a page, never none
    assert pages(2 * big + 20_000) == [2, 2, 1]  # two fit with their headers, a third would not
    assert pages(10 * big) == [5]


def test_a_row_edited_behind_the_relay_is_served_as_stored_not_as_cached(world) -> None:  # noqa: ANN001
    """The cache saves unpacking, never the read: a page shows what the database holds, so an edited row is
    what clients get (and catch by its signature)."""
    from sqlalchemy import text

    from parley.crypto.canonical import canonical_bytes
    from parley.store.codec import pack_header, unpack_header

    nid, ua, _ru, _delegate = _busy_negotiation(world)
    before = _listed(world, ua, nid)
    with world.store.engine.begin() as conn:
        number = conn.execute(text("SELECT negotiation_no FROM negotiations WHERE negotiation_id=:n"),
                              {"n": nid}).scalar_one()
        stored = conn.execute(text("SELECT header FROM events WHERE negotiation_no=:n AND seq=3"),
                              {"n": number}).scalar_one()
        header = orjson.loads(unpack_header(stored))
        header["created"] = "2020-01-01T00:00:00Z"
        conn.execute(text("UPDATE events SET header=:h WHERE negotiation_no=:n AND seq=3"),
                     {"h": pack_header(canonical_bytes(header)), "n": number})
    after = _listed(world, ua, nid)
    assert after != before
    assert after == _page_as_a_dict(world, nid, ua.identity.device_key_id)
    assert b'"created":"2020-01-01T00:00:00Z"' in after


def test_a_stored_header_that_is_not_a_header_is_a_storage_error_not_a_crash(world) -> None:  # noqa: ANN001
    from sqlalchemy import text

    nid, ua, _ru, _delegate = _busy_negotiation(world)
    with world.store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET header=:h WHERE seq=3 AND negotiation_no="
                          "(SELECT negotiation_no FROM negotiations WHERE negotiation_id=:n)"),
                     {"h": b"\x00[1, 2]", "n": nid})
    logged = len(world.store.access_log(nid))
    request = httpx.Request("GET", f"http://relay/v1/negotiations/{nid}/events", params={"after": -1})
    sign_request(request, key_id=ua.identity.device_key_id, private_key=ua.identity.signing.private)
    with httpx.Client(transport=world.transport) as http:
        response = http.send(request)
        assert response.status_code == 503, response.text
        assert "damaged" in response.json()["message"]
        assert len(world.store.access_log(nid)) == logged  # a page never handed out is not logged as fetched
        assert http.send(request).json()["error"] == "replayed_request"  # its nonce is kept all the same


def test_a_listing_says_where_the_relays_time_went_in_server_timing(world) -> None:  # noqa: ANN001
    nid, ua, _ru, _delegate = _busy_negotiation(world)
    answer = _answer(world, ua, nid)
    timings = {}
    for part in answer.headers["server-timing"].split(", "):  # W3C Server Timing: name;dur=milliseconds
        name, duration = part.split(";dur=")
        timings[name] = float(duration)
    assert list(timings) == ["admission", "read", "render", "log"]
    assert all(value >= 0 for value in timings.values())
