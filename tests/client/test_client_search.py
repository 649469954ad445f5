"""Search of the history on this device: every kind of item, offline, and only inside the encrypted store."""

from __future__ import annotations

import httpx
import pytest
from malicious_relay import use_transport

from parley.client.agreement import AgreementDesk
from parley.client.search import fts_query, search
from parley.client.workflow import Negotiation
from parley.demo_files import prisoner_list_pdf
from parley.errors import InputError, NotFoundError


@pytest.fixture
def history(world, tmp_path):
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    ua, ru = Negotiation(ukraine, nid), Negotiation(russia, nid)
    prisoners = ua.add_issue("Exchange of prisoners")
    ru_id = ua.party_id("Russian Federation")
    memo = ua.deliver_memorandum("Memorandum on detainees", {prisoners: "All for all, under ICRC supervision."},
                                 to=[ru_id], attachments=[prisoner_list_pdf(tmp_path / "list.pdf")])
    ru.sync()
    ru.respond(memo, {prisoners: {"stance": "counter", "text": "Phased by category."}},
               "Official response: a phased exchange through Türkiye.")
    channel = ru.open_channel("Backchannel", [ua.own_party])
    ru.channel_message(channel, "The quartermaster lists are ready.")
    desk = AgreementDesk(ua)
    desk.post_text("accord", "Accord", [{"heading": "Ceasefire", "text": "Thirty days along the line."}])
    AgreementDesk(ru).object("accord", 1, "Thirty days is too short for the verification mission.")
    ukraine.send_message(nid, "Zaporizhzhia plant inspection tomorrow.")
    ua.sync()
    return {"ua": ua, "ru": ru, "nid": nid, "memo": memo, "channel": channel}


@pytest.mark.parametrize("query, kind, party", [
    ("ICRC supervision", "memorandum", "Ukraine"),
    ("phased Turkiye", "official response", "Russian Federation"),  # diacritics folded
    ("quartermaster", "channel message", "Russian Federation"),
    ("verification mission", "objection", "Russian Federation"),
    ("Zaporizhzhia", "message", "Ukraine"),
    ("UA-2025-0007", "attachment", "Ukraine"),  # the PDF's text layer
    ("along the line", "agreement text", "Ukraine"),
])
def test_each_kind_of_item_is_found_by_its_words(history, query, kind, party):
    results = search(history["ua"].client, history["nid"], query)
    found = [r for r in results if r["kind"] == kind]
    assert found, results
    assert found[0]["party"] == party and found[0]["author"] and found[0]["created"]
    assert "[" in found[0]["snippet"] and found[0]["item"]


def test_results_name_the_item_to_open(history):
    ua, nid = history["ua"], history["nid"]
    (memo,) = [r for r in search(ua.client, nid, "ICRC") if r["kind"] == "memorandum"]
    assert memo["item"] == history["memo"]
    (channel,) = search(ua.client, nid, "quartermaster")
    assert channel["item"] == history["channel"]
    (attachment,) = search(ua.client, nid, "UA-2025-0007")
    (listed,) = ua.views().memoranda[history["memo"]].attachments
    assert attachment["item"] == listed.attachment_id and attachment["name"] == "list.pdf"
    assert attachment["in_kind"] == "memorandum" and attachment["in_item"] == history["memo"]


def test_search_works_offline_with_no_relay(history):
    class NoRelay(httpx.BaseTransport):
        def handle_request(self, request):  # noqa: ANN001, ANN201
            raise httpx.ConnectError("offline")

    ua = history["ua"]
    use_transport(ua.client, NoRelay())
    assert [r["kind"] for r in search(ua.client, history["nid"], "quartermaster")] == ["channel message"]


def test_copied_profile_folder_reveals_no_searchable_text(history):
    # Someone copies the whole profile folder (cache, WAL, everything): the index's words are not in it.
    ua = history["ua"]
    assert search(ua.client, history["nid"], "quartermaster")
    ua.client.cache.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    home = ua.client.profile.home
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.startswith("cache.db") for p in files)
    for path in files:
        data = path.read_bytes()
        for word in (b"quartermaster", b"ICRC", b"Zaporizhzhia", b"UA-2025-0007", b"search_index"):
            assert word not in data, f"{word!r} in clear in {path.name}"


def test_a_cache_written_before_the_index_is_indexed_on_first_search(history):
    ua = history["ua"]
    db = ua.client.cache.db
    with db:
        db.execute("DELETE FROM search_index")
        db.execute("DELETE FROM search_progress")
    assert [r["kind"] for r in search(ua.client, history["nid"], "quartermaster")] == ["channel message"]


def test_search_input_is_taken_as_words_not_query_syntax(history):
    assert fts_query('NEAR("a" b) OR c*') == '"NEAR(""a""" "b)" "OR" "c"*'
    assert search(history["ua"].client, history["nid"], 'quarter* "OR') == []
    assert search(history["ua"].client, history["nid"], "quarter*")
    with pytest.raises(InputError):
        search(history["ua"].client, history["nid"], "  * ")
    with pytest.raises(NotFoundError):
        search(history["ua"].client, "n-unknown", "x")


def test_content_the_index_cannot_read_never_stops_a_sync(history, monkeypatch):
    # A party posts something the indexer chokes on: the verified events are stored all the same.
    from parley.client import search as search_module

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("indexer bug")

    ua, ru = history["ua"], history["ru"]
    monkeypatch.setattr(search_module, "_index_event", broken)
    ru.client.send_message(history["nid"], "Anything at all.")
    ua.client.sync(history["nid"])
    assert ua.client.messages(history["nid"])[-1]["content"]["text"] == "Anything at all."
