"""Insiders: members of the negotiation who try to forge, frame or take over.

Each test is one attack, run by real participants (SDK clients with their own keys) who post crafted
events through the ordinary relay API: the relay accepts them (it cannot read them), and every
client's fold must refuse them and show a violation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.client.agreement import AgreementDesk
from parley.client.workflow import Negotiation
from parley.errors import ForbiddenError
from parley.protocol import workflow as wf
from parley.protocol.views import plain

ARTICLES = [
    {"heading": "Ceasefire", "text": "The parties observe a ceasefire of thirty days from signature."},
    {"heading": "Prisoners", "text": "The parties exchange all prisoners of war within sixty days."},
]


@pytest.fixture
def cast(world):  # noqa: ANN001, ANN201
    """Türkiye convenes and mediates; Ukraine and the Russian Federation negotiate; each has a delegate."""
    turkiye = world.party("Türkiye", member="Mediator")
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    tr_delegate = world.member(turkiye, "Mediator's delegate", "delegate")
    ua_delegate = world.member(ukraine, "Delegate", "delegate")
    nid = world.negotiation(turkiye, ukraine, russia)
    for delegate in (tr_delegate, ua_delegate):
        for other in (turkiye, ukraine, russia):
            delegate.profile.pin(other.profile.party)
    clients = {"tr": turkiye, "ua": ukraine, "ru": russia, "tr_d": tr_delegate, "ua_d": ua_delegate}
    return {"nid": nid, "world": world, "clients": clients,
            **{name: Negotiation(client, nid) for name, client in clients.items()}}


# ---- agenda ---------------------------------------------------------------------------------------------
def test_delegate_closes_mediators_issue(cast):
    tr, ua_d = cast["tr"], cast["ua_d"]
    issue = tr.add_issue("Ceasefire", "ceasefire")
    # The client refuses it before posting...
    with pytest.raises(ForbiddenError, match="convening party or the party that opened"):
        ua_d.close_issue(issue)
    with pytest.raises(ForbiddenError, match="convening party or the party that opened"):
        ua_d.rename_issue(issue, "Ceasefire (dropped)")
    # ...and a crafted client that posts anyway changes nothing on any screen, which shows the violation.
    ua_d.client.post(cast["nid"], wf.ISSUE_CLOSE, {"issue_id": issue})
    ua_d.client.post(cast["nid"], wf.ISSUE_RENAME, {"issue_id": issue, "title": "Ceasefire (dropped)"})
    for reader in (tr, cast["ru"], ua_d):
        reader.sync(receipts=False)
        status = reader.status()
        row = next(i for i in status["issues"] if i["issue_id"] == issue)
        assert (row["status"], row["title"]) == ("open", "Ceasefire")
        assert sum("convening party or the party that opened" in v for v in status["violations"]) == 2


def test_party_that_opened_an_issue_and_the_convener_may_close_it(cast):
    ua, tr = cast["ua"], cast["tr"]
    issue = ua.add_issue("Humanitarian corridors", "corridors")
    cast["ua_d"].rename_issue(issue, "Humanitarian corridors and convoys")
    tr.close_issue(issue)
    ua.sync(receipts=False)
    status = ua.status()
    row = next(i for i in status["issues"] if i["issue_id"] == issue)
    assert (row["status"], row["title"]) == ("closed", "Humanitarian corridors and convoys")
    assert status["violations"] == []


# ---- tracing secrets ------------------------------------------------------------------------------------
LONG_POSITION = (
    "The parties shall observe a full and unconditional ceasefire on land, at sea and in the air for a period "
    "of no less than thirty days, during which the monitoring mission shall report every alleged violation to "
    "the mediator within twenty four hours, and the parties shall refrain from any movement of heavy weapons "
    "towards the line of contact. The exchange of prisoners shall follow the principle of all for all and "
    "shall begin within seven days of the signature of this memorandum under the supervision of the mediator. "
)


def test_delegate_frames_innocent_recipient_with_tracing_secret(cast):
    from parley.client.tracing import trace_leak
    from parley.errors import NotFoundError
    from parley.tracing import TracedText, make_copies
    from parley.tracing.sample import english_memo_with_alternatives
    from parley.tracing.secret import TracingSecret

    tr, ua, ru, ua_d, tr_d = cast["tr"], cast["ua"], cast["ru"], cast["ua_d"], cast["tr_d"]
    issue = tr.add_issue("Ceasefire", "ceasefire")
    source = english_memo_with_alternatives(12000, seed=4, share=0.6).replace("\n\n", " ")
    memo = ua.deliver_memorandum("Positions", {issue: source},
                                 to=[ru.party_id("Russian Federation")], restricted={issue: "Fallback: 20 days."})
    AgreementDesk(tr).post_text("agr-1", "Istanbul Memorandum", ARTICLES)
    ru_head = ru.client.identity.device_key_id
    for delegate in (ua_d, tr_d):
        delegate.sync(receipts=False)
        # The delegate's device never receives the secret, so it cannot rebuild the copy of Russia's head.
        assert delegate.tracing_secrets() == []
        cached = str([body for _, _, body, _ in delegate.client.cache.events(cast["nid"])])
        assert '"secret"' not in cached and "'secret'" not in cached
        with pytest.raises(NotFoundError, match="only the sending party's heads of delegation"):
            trace_leak(source, delegate.tracing_secrets(), who_can_trace=delegate.tracing_holders())
    assert ua_d.views().memoranda[memo].restricted == {}
    # The heads hold it, and a leak by Russia's head is pinned on Russia's head, not on anyone else.
    ua.sync(receipts=False)
    tr.sync(receipts=False)
    secrets = ua.tracing_secrets()
    assert [s.document_id for s in secrets] == [memo]
    assert [s.document_id for s in tr.tracing_secrets()] == ["agr-1-v1"]
    assert ua.views().memoranda[memo].restricted == {issue: "Fallback: 20 days."}
    ru.sync(receipts=False)
    leaked = ru.views().memoranda[memo].positions[issue]
    _, report = trace_leak(leaked, secrets)
    assert [a.recipient for a in report.accused] == [ru_head]
    # What the delegate could have done with the secret: rebuild the head's copy and accuse him.
    secret = secrets[0]
    rebuilt = make_copies(TracedText.from_json(secret.document), list(secret.recipients),
                          TracingSecret.from_json(secret.secret))
    assert rebuilt[ru_head] == leaked


def test_trace_on_a_device_without_the_secret_says_who_can_trace(cast):
    from parley.client.tracing import trace_leak
    from parley.errors import NotFoundError

    ua_d = cast["ua_d"]
    ua_d.sync(receipts=False)
    with pytest.raises(NotFoundError, match=r"heads of delegation \(Head of delegation\)"):
        trace_leak("some leaked text", ua_d.tracing_secrets(), who_can_trace=ua_d.tracing_holders())


# ---- signatures -----------------------------------------------------------------------------------------
def _agreement(cast, agreement_id="agr-1", articles=ARTICLES):  # noqa: ANN001, ANN202
    desks = {name: AgreementDesk(cast[name]) for name in ("tr", "ua", "ru")}
    desks["tr"].post_text(agreement_id, "Istanbul Memorandum of Understanding", articles)
    desks["tr"].finalize(agreement_id)
    return desks


def _party_id(cast, name):  # noqa: ANN001, ANN202
    return cast["tr"].party_id(name)


def test_party_signs_with_another_partys_signature(cast):
    from parley.errors import ParleyError

    desks = _agreement(cast)
    desks["tr"].sign("agr-1")
    desks["ru"].sign("agr-1")
    turkiye = _party_id(cast, "Türkiye")
    ua, ua_client = desks["ua"], cast["clients"]["ua"]
    ua.negotiation.sync(receipts=False)
    stolen = ua.view("agr-1").signatures[turkiye]
    # Ukraine's head posts Türkiye's signature, and Türkiye's public key, as Ukraine's own.
    ua_client.post(cast["nid"], "agreement.sign",
                   {"agreement_id": "agr-1", "text_sha256": ua.view("agr-1").finalized.sha256, "version": 1,
                    "signature": stolen.signature,
                    "public_key": cast["clients"]["tr"].identity.signing.public_b64}, authority="head")
    for desk in desks.values():
        summary = desk.summary("agr-1")
        assert "Ukraine" not in summary["signed_by"]
        assert summary["state"] == "sealed"
        assert any("certified key of the head" in v for v in summary["violations"])
        _, violations = desk.views()
        assert any("agreement.sign" in v and "certified key of the head" in v for v in violations), violations
    # Ukraine cannot consent either, and a publication that lists Türkiye's signature for Ukraine is refused
    # by the relay with the same rule.
    with pytest.raises(ParleyError, match="every party signed"):
        ua.consent_to_release("agr-1")
    view = desks["tr"].view("agr-1")
    forged = desks["tr"].publication_content(view)
    ukraine = _party_id(cast, "Ukraine")
    for kind in ("signatures", "consents"):
        forged[kind][ukraine] = {**forged[kind].get(turkiye, plain(stolen)), "device": ua_client.identity.device_key_id,
                                 "party": "Ukraine"}
    with pytest.raises(ParleyError, match="head"):
        ua_client._post_public(cast["nid"], "agreement.publication", forged, authority="head")


def test_signature_replayed_on_another_agreement_with_same_text(cast):
    from parley.errors import ParleyError

    desks = _agreement(cast, "agr-1")
    desks["tr"].post_text("agr-2", "Istanbul Memorandum of Understanding", ARTICLES)
    desks["tr"].finalize("agr-2")
    for name in ("tr", "ua", "ru"):
        desks[name].sign("agr-1")
    for name in ("tr", "ua", "ru"):
        desks[name].consent_to_release("agr-1")
    tr = desks["tr"]
    for desk in desks.values():
        desk.negotiation.sync(receipts=False)
    assert tr.view("agr-2").latest.sha256 == tr.view("agr-1").latest.sha256
    # A head re-posts its signature of agr-1 as its signature of agr-2: the same bytes, another agreement.
    ua_client = cast["clients"]["ua"]
    signed = desks["ua"].view("agr-1").signatures[_party_id(cast, "Ukraine")]
    ua_client.post(cast["nid"], "agreement.sign",
                   {"agreement_id": "agr-2", "text_sha256": tr.view("agr-2").finalized.sha256, "version": 1,
                    "signature": signed.signature}, authority="head")
    for desk in desks.values():
        assert desk.summary("agr-2")["signed_by"] == []
        assert any("agreement.sign" in v for v in desk.views()[1])
    # The mediator publishes agr-2 (which nobody signed) with every signature and consent of agr-1.
    replayed = tr.publication_content(tr.view("agr-1"))
    replayed["agreement_id"] = "agr-2"
    with pytest.raises(ParleyError, match="negotiation, agreement, version and text"):
        tr.client._post_public(cast["nid"], "agreement.publication", replayed, authority="head")
    # Naming agr-2 in the signed document too does not help: the signatures were not made over it.
    from parley.protocol.agreement import signed_document

    replayed["document"] = signed_document(cast["nid"], "agr-2", 1, replayed["text"])
    with pytest.raises(ParleyError, match="does not verify"):
        tr.client._post_public(cast["nid"], "agreement.publication", replayed, authority="head")
    with pytest.raises(ParleyError):
        tr.publish("agr-2")


# ---- one profile, many processes ------------------------------------------------------------------------
WORKER = r'''
import json
import sys
from pathlib import Path

from parley.client.profile import Identity, PinnedParty, Profile
from parley.client.sdk import Client
from parley.client.workflow import Negotiation
from parley.protocol.identity import PartyRecord

home, negotiation_id, tag, rounds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
# Profile.load without the keystore: the unlocked identity comes on stdin (scrypt would only slow this down)
public = json.loads((home / "profile.json").read_text())
profile = Profile(home, public["member"], public["role"], PartyRecord.from_obj(public["party"]), public["relay_url"],
                  public["relay_vkey"], Identity.from_secrets(json.loads(sys.stdin.read())))
for party_id, pin in json.loads((home / "trust.json").read_text())["parties"].items():
    profile.trust[party_id] = PinnedParty(party_id, pin["name"], pin["root_key"], pin["verified"], pin["chain"])
client = Client(profile)
negotiation = Negotiation(client, negotiation_id)
for number in range(rounds):
    negotiation.sync()  # acknowledges every memorandum it has not acknowledged yet
    client.send_message(negotiation_id, f"{tag} message {number}")
client.close()
'''


def _served(request):  # noqa: ANN001, ANN202
    """``served`` of this folder's conftest (found as a pytest plugin: the bare name ``conftest`` is shared
    by every test folder's)."""
    here = str(Path(__file__).with_name("conftest.py"))
    return next(p for p in request.config.pluginmanager.get_plugins() if getattr(p, "__file__", None) == here).served


def test_two_processes_on_one_profile_do_not_crash_or_double_post(world, tmp_path, request):
    """Like `parley ui` and `parley message send` on one profile: two processes syncing, acknowledging and
    posting at once. Each must finish without a traceback, each message must be posted once, and each
    memorandum acknowledged once by this member."""
    import json
    import os
    import subprocess
    import sys

    import parley
    from parley.client.sdk import Client
    from parley.relay.app import create_app

    with _served(request)(create_app(world.relay)) as url:
        token = world.store.create_enrol_token("Russian Federation", "2026-01-01T00:00:00Z")
        home = tmp_path / "russia"
        russia = Client.create_party(home, relay_url=url, party_name="Russian Federation",
                                     member="Head of delegation", token=token, passphrase=None)
        world.clients.append(russia)
        ukraine = world.party("Ukraine")
        nid = world.negotiation(ukraine, russia)
        sender = Negotiation(ukraine, nid)
        issue = sender.add_issue("Ceasefire", "ceasefire")
        memos = {sender.deliver_memorandum(f"Memorandum {n}", {issue: "Thirty days."},
                                           to=[russia.profile.party.party_id], tracing=False) for n in range(3)}
        env = {**os.environ, "PYTHONPATH": str(Path(parley.__file__).resolve().parents[1])}
        secrets = json.dumps(russia.identity.to_secrets()).encode()
        workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(home), nid, tag, "5"], env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                   for tag in ("ui", "cli")]
        for worker in workers:
            worker.stdin.write(secrets)
            worker.stdin.close()
        results = [(worker.stdout.read(), worker.stderr.read(), worker.wait(timeout=600)) for worker in workers]
        for _, err, returncode in results:
            assert returncode == 0, err.decode()[-3000:]
        sender.sync(receipts=False)
    texts = [m["content"]["text"] for m in ukraine.messages(nid)]
    assert sorted(texts) == sorted(f"{tag} message {n}" for tag in ("ui", "cli") for n in range(5))
    receipts = [e for e in sender.entries() if e.type == wf.RECEIPT and e.party == russia.profile.party.party_id]
    assert sorted(e.content["memo_id"] for e in receipts) == sorted(memos)


def test_a_profile_busy_in_another_process_gets_a_clear_message(world):
    from dataclasses import replace

    from parley.client.sdk import Client
    from parley.errors import BusyError
    from parley.settings import DEFAULT_LIMITS

    ukraine = world.party("Ukraine")
    nid = world.negotiation(ukraine, world.party("Russian Federation"))
    second = Client(ukraine.profile, transport=world.transport, clock=world.clock,
                    limits=replace(DEFAULT_LIMITS, profile_lock_seconds=0.2))
    world.clients.append(second)
    with ukraine.lock:
        with pytest.raises(BusyError, match="is busy: another parley process"):
            second.send_message(nid, "Not now.")
    assert second.send_message(nid, "Now.").seq == ukraine.sync(nid).size - 1


# ---- party-level trust -----------------------------------------------------------------------------------
def test_delegate_inherits_heads_fingerprint_verification(cast):
    from parley.client.trust import describe, trust_rows
    from parley.crypto.fingerprint import fingerprint_digits

    ukraine, russia, ua_delegate = cast["clients"]["ua"], cast["clients"]["ru"], cast["clients"]["ua_d"]
    russia_id, turkiye_id = russia.profile.party.party_id, cast["clients"]["tr"].profile.party.party_id

    def shown(party_id):  # noqa: ANN001, ANN202
        ua_delegate.sync(cast["nid"])
        return next(r for r in trust_rows(ua_delegate, cast["nid"])[0] if r["party_id"] == party_id)

    # Ukraine's head had verified Russia's fingerprint before Russia joined: its next sync records that for
    # its party, so its delegate (whose own pin is unverified) sees who verified and when.
    assert not ua_delegate.profile.trust[russia_id].verified
    cast["ua"].sync()
    row = shown(russia_id)
    assert row["verified"] and row["source"] == "party" and row["by"] == "Head of delegation" and row["at"]
    assert describe(row).startswith("verified by Head of delegation (your party), ")
    # Revoking works the same way: the head withdraws, and the delegate's screen follows.
    assert ukraine.distrust_party(russia_id) == 1
    row = shown(russia_id)
    assert not row["verified"] and describe(row).startswith("UNVERIFIED (trust withdrawn by Head of delegation")
    # The head reads the fingerprint out of band again and verifies it: the delegate inherits it again.
    ukraine.trust_party(russia_id, fingerprint_digits(russia.profile.party.root_key))
    assert shown(russia_id)["verified"]
    # The delegate cannot speak for the party: its record is a violation and changes nothing.
    ukraine.distrust_party(turkiye_id)
    ua_delegate.post(cast["nid"], "trust.verify", {"party_id": turkiye_id, "root_key":
                                                   cast["clients"]["tr"].profile.party.root_key, "verified": True},
                     parties=[ukraine.profile.party.party_id])
    assert not shown(turkiye_id)["verified"]
    assert any("only a head of delegation records" in v for v in trust_rows(ua_delegate, cast["nid"])[1])
    # Other parties' devices learn nothing of Ukraine's trust decisions.
    cast["tr_d"].sync(receipts=False)
    seen = cast["tr_d"].entries(frozenset({"trust.verify"}))
    assert seen and {e.party for e in seen} == {turkiye_id}
