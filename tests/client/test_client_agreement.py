"""The agreement: sealed until all sign, released only with every consent, verifiable offline."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from parley.client.agreement import AgreementDesk
from parley.client.bundle import verify_bundle
from parley.client.witness import cosign
from parley.client.workflow import Negotiation
from parley.errors import ForbiddenError, ProtocolError, RelayRefusal

ARTICLES = [
    {"heading": "Ceasefire", "text": "The parties observe a ceasefire of thirty days from signature."},
    {"heading": "Prisoners", "text": "The parties exchange all prisoners of war within sixty days."},
]


@pytest.fixture
def desks(world):
    turkiye = world.party("Türkiye", member="Mediator")
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    ru_delegate = world.member(russia, "Delegate", "delegate")
    nid = world.negotiation(turkiye, ukraine, russia)
    for other in (turkiye, ukraine, russia):
        ru_delegate.profile.pin(other.profile.party, verified=True)
    return {name: AgreementDesk(Negotiation(client, nid)) for name, client in
            (("tr", turkiye), ("ua", ukraine), ("ru", russia), ("ru_d", ru_delegate))}


def _sign_all(desks, agreement_id="agr-1"):
    desks["tr"].post_text(agreement_id, "Istanbul Memorandum of Understanding", ARTICLES)
    desks["tr"].finalize(agreement_id)
    for name in ("tr", "ua", "ru"):
        desks[name].sign(agreement_id)


def test_objection_blocks_finalize_without_override(desks):
    tr, ua = desks["tr"], desks["ua"]
    tr.post_text("agr-1", "Memorandum", ARTICLES)
    ua.object("agr-1", 1, "Thirty days is too short to verify.")
    tr.negotiation.sync()
    assert [a["status"] for a in tr.summary("agr-1")["articles"]] == ["objected", "no objection"]
    with pytest.raises(ProtocolError, match="open objections"):
        tr.finalize("agr-1")
    tr.finalize("agr-1", override=True, reason="Mediator's proposal stands; objection recorded.")
    assert tr.summary("agr-1")["finalized"]["override"] is True


def test_publishing_before_every_party_signed_is_refused_by_client_and_relay(desks):
    tr = desks["tr"]
    tr.post_text("agr-1", "Memorandum", ARTICLES)
    tr.finalize("agr-1")
    tr.sign("agr-1")
    desks["ua"].sign("agr-1")
    assert tr.summary("agr-1")["state"] == "sealed"
    with pytest.raises(ProtocolError, match="sealed"):
        tr.pdf("agr-1", "/tmp/never.pdf")
    with pytest.raises(ProtocolError):
        tr.publish("agr-1")
    # A client that skips its own checks is stopped by the relay.
    view = tr.view("agr-1")
    with pytest.raises(RelayRefusal, match="signed and consented"):
        tr.client._post_public(tr.negotiation.id, "agreement.publication", tr.publication_content(view),
                               authority="head")


def test_signature_by_a_non_head_is_refused(desks):
    desks["tr"].post_text("agr-1", "Memorandum", ARTICLES)
    desks["tr"].finalize("agr-1")
    with pytest.raises(ForbiddenError):
        desks["ru_d"].sign("agr-1")
    with pytest.raises(RelayRefusal, match="head"):
        desks["ru_d"].client.post(desks["ru_d"].negotiation.id, "agreement.sign",
                                  {"agreement_id": "agr-1", "text_sha256": "0" * 64}, authority="head")


def test_signature_over_a_different_text_is_ignored_and_flagged(desks):
    from parley.crypto.sshsig import AGREEMENT_NAMESPACE, sshsig_sign

    tr, ua = desks["tr"], desks["ua"]
    tr.post_text("agr-1", "Memorandum", ARTICLES)
    tr.finalize("agr-1")
    signing = ua.client.identity.signing
    forged_text = "A different text"
    ua.client.post(ua.negotiation.id, "agreement.sign",
                   {"agreement_id": "agr-1", "text_sha256": tr.view("agr-1").finalized.sha256,
                    "signature": sshsig_sign(signing.private, forged_text.encode(), AGREEMENT_NAMESPACE),
                    "public_key": signing.public_b64}, authority="head")
    tr.negotiation.sync()
    views, violations = tr.views()
    assert "Ukraine" not in tr.summary("agr-1")["signed_by"]
    assert any("agreement.sign" in v for v in violations)


def test_release_consent_before_all_signatures_is_refused(desks):
    tr = desks["tr"]
    tr.post_text("agr-1", "Memorandum", ARTICLES)
    tr.finalize("agr-1")
    tr.sign("agr-1")
    with pytest.raises(ProtocolError, match="every party signed"):
        tr.consent_to_release("agr-1")


def test_release_publish_bundle_and_offline_verification(desks, tmp_path):
    _sign_all(desks)
    for name in ("tr", "ua", "ru"):
        desks[name].consent_to_release("agr-1")
    desks["ua"].publish("agr-1")
    assert desks["tr"].summary("agr-1")["state"] == "released"
    zip_path = desks["tr"].bundle("agr-1", tmp_path / "publication")
    folder = tmp_path / "publication"
    report = verify_bundle(folder)
    assert report["valid"], report["failures"]
    assert verify_bundle(zip_path)["valid"]
    pdf = desks["ru"].pdf("agr-1", tmp_path / "agreement.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    # The relay serves it publicly only now.
    public = desks["tr"].client.conn.request("GET", "/public/agreements/agr-1", signed=False)
    assert public["agreement"]["document"] == (folder / "agreement.txt").read_text()
    assert (folder / "agreement.txt").read_text().endswith(public["agreement"]["text"])


@pytest.mark.parametrize("victim", ["agreement.txt", "allowed_signers", "signatures/ukraine.sig",
                                    "consents/russian-federation.sig", "checkpoint.txt", "bundle.json"])
def test_tampering_with_any_file_of_a_bundle_is_detected_and_named(desks, tmp_path, victim):
    _sign_all(desks)
    for name in ("tr", "ua", "ru"):
        desks[name].consent_to_release("agr-1")
    desks["tr"].publish("agr-1")
    folder = tmp_path / "publication"
    desks["tr"].bundle("agr-1", folder)
    target = folder / victim
    data = target.read_bytes()
    if victim == "bundle.json":
        data = data.replace(b'"seq": ', b'"seq": 1', 1)
    elif victim.endswith(".sig"):
        data = data.replace(b"\n", b"\nAAAA", 2)[:len(data)]
    else:
        data = data.replace(data[40:41], b"#" if data[40:41] != b"#" else b"@", 1)
    target.write_bytes(data)
    report = verify_bundle(folder)
    assert not report["valid"]
    assert any(victim.split("/")[0] in failure or victim in failure for failure in report["failures"]), report


def test_bundle_whose_sign_event_header_is_not_the_one_its_leaf_commits_is_refused(desks, tmp_path):
    """A sign event is encrypted, so its leaf is its hidden entry and the bundle gives its header beside it: a
    header other than the one the leaf's event id commits (here another party's sign event, itself in the log)
    must not pass for it."""
    import json

    _sign_all(desks)
    for name in ("tr", "ua", "ru"):
        desks[name].consent_to_release("agr-1")
    desks["tr"].publish("agr-1")
    folder = tmp_path / "publication"
    desks["tr"].bundle("agr-1", folder)
    assert verify_bundle(folder)["valid"]
    bundle = json.loads((folder / "bundle.json").read_text())
    first, second = bundle["signers"][0], bundle["signers"][1]
    assert set(first["sign_event"]) == {"seq", "leaf", "inclusion_proof", "event"}
    first["sign_event"]["event"] = second["sign_event"]["event"]
    (folder / "bundle.json").write_text(json.dumps(bundle))
    report = verify_bundle(folder)
    assert not report["valid"]
    assert any(f"sign event of {first['party']}" in failure and "not the one the leaf commits" in failure
               for failure in report["failures"]), report["failures"]


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_ssh_keygen_accepts_every_signature_and_rejects_a_modified_text(desks, tmp_path):
    _sign_all(desks)
    for name in ("tr", "ua", "ru"):
        desks[name].consent_to_release("agr-1")
    desks["ru"].publish("agr-1")
    folder = tmp_path / "publication"
    desks["ru"].bundle("agr-1", folder)
    import json

    bundle = json.loads((folder / "bundle.json").read_text())
    for signer in bundle["signers"]:
        command = ["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", signer["principal"], "-n",
                   bundle["namespace"], "-s", signer["signature"]]
        ok = subprocess.run(command, cwd=folder, input=(folder / "agreement.txt").read_bytes(), capture_output=True)
        assert ok.returncode == 0, ok.stderr
        bad = subprocess.run(command, cwd=folder, input=(folder / "agreement.txt").read_bytes() + b" ",
                             capture_output=True)
        assert bad.returncode != 0


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_ssh_keygen_verifies_signatures_and_consents_over_the_document_naming_its_context(desks, tmp_path):
    _sign_all(desks)
    for name in ("tr", "ua", "ru"):
        desks[name].consent_to_release("agr-1")
    desks["ru"].publish("agr-1")
    folder = tmp_path / "publication"
    desks["ru"].bundle("agr-1", folder)
    import json

    from parley.protocol.agreement import signed_document

    bundle = json.loads((folder / "bundle.json").read_text())
    document = (folder / "agreement.txt").read_bytes()
    header = document.decode().split("\n\n", 1)[0].splitlines()
    assert header[1:] == [f"Negotiation: {desks['tr'].negotiation.id}", "Agreement: agr-1", "Version: 1",
                          f"Text-SHA256: {bundle['text_sha256']}"]
    # Exactly the commands VERIFY.md and docs/interop.md give, signatures and consents alike.
    verify_md = (folder / "VERIFY.md").read_text()
    commands = [line.split(" < ")[0].split() for line in verify_md.splitlines() if line.startswith("ssh-keygen -Y")]
    assert len(commands) == 2 * len(bundle["signers"])
    for command in commands:
        ok = subprocess.run(command, cwd=folder, input=document, capture_output=True)
        assert ok.returncode == 0, ok.stderr
    # The same text, named as another agreement, does not verify.
    other = signed_document(desks["tr"].negotiation.id, "agr-2", 1, document.decode().split("\n\n", 1)[1])
    for command in commands:
        assert subprocess.run(command, cwd=folder, input=other.encode(), capture_output=True).returncode != 0


def test_bundle_of_the_first_format_still_verifies_with_a_warning(tmp_path):
    from pathlib import Path

    legacy = Path(__file__).resolve().parent.parent / "vectors" / "bundle-v1"
    report = verify_bundle(legacy)
    assert report["valid"], report["failures"]
    assert any("format 1" in w and "text alone" in w for w in report["warnings"])
    tampered = tmp_path / "bundle"
    shutil.copytree(legacy, tampered)
    (tampered / "agreement.txt").write_bytes((legacy / "agreement.txt").read_bytes() + b" ")
    assert not verify_bundle(tampered)["valid"]


def test_bundle_of_an_unknown_format_is_refused_with_a_clear_message(tmp_path):
    import json
    from pathlib import Path

    folder = tmp_path / "bundle"
    shutil.copytree(Path(__file__).resolve().parent.parent / "vectors" / "bundle-v1", folder)
    bundle = json.loads((folder / "bundle.json").read_text())
    (folder / "bundle.json").write_text(json.dumps({**bundle, "bundle_version": 9}))
    report = verify_bundle(folder)
    assert not report["valid"]
    assert report["failures"] == ["bundle.json: bundle format 9 is not one this version of parley knows (1 or 2): "
                                  "upgrade parley to verify it"]


def _published(desks):
    _sign_all(desks)
    for name in ("tr", "ua", "ru"):
        desks[name].consent_to_release("agr-1")
    desks["ua"].publish("agr-1")


def test_bundle_carries_every_party_cosignature_and_verify_can_require_them(desks, tmp_path):
    _published(desks)
    for name in ("ua", "ru"):
        cosign(desks[name].client, desks[name].negotiation.id)  # each party verifies the published log, cosigns it
    folder = tmp_path / "publication"
    desks["tr"].bundle("agr-1", folder)
    report = verify_bundle(folder, "all")
    assert report["valid"], report["failures"]
    assert sum(1 for item in report["checked"] if item.startswith("bundle.json witness")) == 3
    assert verify_bundle(folder, 2)["valid"]


def test_bundle_whose_log_a_party_never_cosigned_fails_an_all_parties_policy(desks, tmp_path):
    """Russia's client never cosigned the publication: a relay could have shown it another history."""
    _published(desks)
    cosign(desks["ua"].client, desks["ua"].negotiation.id)
    desks["ru"].negotiation.sync()  # a read: Russia saw the publication but did not cosign it
    folder = tmp_path / "publication"
    desks["tr"].bundle("agr-1", folder)
    assert verify_bundle(folder)["valid"]  # cosignatures not required: valid, as before
    assert verify_bundle(folder, 2)["valid"]
    report = verify_bundle(folder, "all")
    assert not report["valid"]
    assert any("cosigned by 2 of 3 parties, 3 required (missing: Russian Federation)" in f for f in report["failures"])


def test_bundle_with_a_tampered_cosignature_names_the_witness(desks, tmp_path):
    import json as _json

    _published(desks)
    for name in ("ua", "ru"):
        cosign(desks[name].client, desks[name].negotiation.id)
    folder = tmp_path / "publication"
    desks["tr"].bundle("agr-1", folder)
    bundle = _json.loads((folder / "bundle.json").read_text())
    victim = next(w for w in bundle["witnesses"] if w["party"] == "Ukraine")
    victim["consistency_proof"] = victim["consistency_proof"][:-1] if victim["consistency_proof"] else ["AAAA"]
    (folder / "bundle.json").write_text(_json.dumps(bundle))
    report = verify_bundle(folder, "all")
    assert not report["valid"]
    assert any(f.startswith("bundle.json witness Ukraine: not a cosignature of this log") for f in report["failures"])
