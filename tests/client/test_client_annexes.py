"""Annexes of the agreement: listed by name, size and SHA-256 in what heads sign, shipped in the bundle,
checked by ``parley verify``."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest
from malicious_relay import event_id_of

from parley.client.agreement import AgreementDesk
from parley.client.bundle import verify_bundle
from parley.client.workflow import ATTACHMENT_CHUNK, Negotiation
from parley.errors import InputError, ProtocolError

ARTICLES = [{"heading": "Ceasefire", "text": "The parties observe a ceasefire along the line in Annex 1."}]


@pytest.fixture
def desks(trio):
    return {name: AgreementDesk(Negotiation(client, trio.nid)) for name, client in
            (("ua", trio.ukraine), ("ru", trio.russia), ("ch", trio.swiss))}


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    made = {"map": folder / "Annex 1 - line of contact.png", "list": folder / "annex-2-prisoners.txt"}
    made["map"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3000)  # several chunks
    made["list"].write_text("1. A. Ivanenko\n2. B. Petrenko\n")
    return made


def _publish(desks, annexes):
    desks["ua"].post_text("agr-1", "Line of contact", ARTICLES, annexes=annexes)
    desks["ua"].finalize("agr-1")
    for desk in desks.values():
        desk.sign("agr-1")
    for desk in desks.values():
        desk.consent_to_release("agr-1")
    desks["ua"].publish("agr-1")


def test_annexes_are_signed_with_the_text_shipped_in_the_bundle_and_verified(desks, files, tmp_path):
    _publish(desks, [files["map"], files["list"]])
    out = tmp_path / "publication"
    zip_path = desks["ru"].bundle("agr-1", out)
    document = (out / "agreement.txt").read_text()
    for path in files.values():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"Annex: {digest} {path.stat().st_size} {path.name}\n" in document
        assert (out / "annexes" / path.name).read_bytes() == path.read_bytes()
    report = verify_bundle(out)
    assert report["valid"], report["failures"]
    assert "annexes/annex-2-prisoners.txt" in report["checked"]
    assert verify_bundle(zip_path)["valid"]
    assert "sha256sum 'annexes/Annex 1 - line of contact.png'" in (out / "VERIFY.md").read_text()


def test_annex_swapped_in_the_bundle_is_refused(desks, files, tmp_path):
    _publish(desks, [files["map"]])
    out = tmp_path / "publication"
    desks["ch"].bundle("agr-1", out)
    annex = out / "annexes" / files["map"].name
    annex.write_bytes(annex.read_bytes()[:-1] + b"\x00")
    report = verify_bundle(out)
    assert not report["valid"]
    assert any(f.startswith("annexes/Annex 1 - line of contact.png: its size or SHA-256 differs")
               for f in report["failures"]), report["failures"]
    annex.unlink()
    assert any("missing" in f for f in verify_bundle(out)["failures"])
    (out / "annexes" / "extra.pdf").write_bytes(b"%PDF-1.4")
    assert any(f.startswith("annexes/extra.pdf: not an annex") for f in verify_bundle(out)["failures"])


def test_bundle_json_naming_other_annexes_than_the_signed_document_is_refused(desks, files, tmp_path):
    import json

    _publish(desks, [files["map"]])
    out = tmp_path / "publication"
    desks["ch"].bundle("agr-1", out)
    bundle = json.loads((out / "bundle.json").read_text())
    bundle["annexes"][0]["sha256"] = "0" * 64
    (out / "bundle.json").write_text(json.dumps(bundle))
    assert any("its annexes differ" in f for f in verify_bundle(out)["failures"])


def test_sha256sum_and_ssh_keygen_check_a_bundle_with_annexes_by_hand(desks, files, tmp_path):
    if shutil.which("ssh-keygen") is None or shutil.which("sha256sum") is None:
        pytest.skip("needs OpenSSH and coreutils")
    _publish(desks, [files["map"]])
    out = tmp_path / "publication"
    desks["ua"].bundle("agr-1", out)
    line = next(x for x in (out / "agreement.txt").read_text().splitlines() if x.startswith("Annex: "))
    printed = subprocess.run(["sha256sum", f"annexes/{files['map'].name}"], cwd=out, capture_output=True,
                             text=True, check=True).stdout.split()[0]
    assert line.split()[1] == printed
    verify = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", "ukraine@parley", "-n",
                             "agreement-v2@parley", "-s", "signatures/ukraine.sig"],
                            cwd=out, input=(out / "agreement.txt").read_bytes(), capture_output=True)
    assert verify.returncode == 0, verify.stderr


def test_a_new_annex_list_is_a_new_version_to_sign(desks, files):
    ua = desks["ua"]
    ua.post_text("agr-1", "Line of contact", ARTICLES, annexes=[files["map"]])
    ua.post_text("agr-1", "Line of contact", ARTICLES)  # no annexes named: the version keeps them
    assert [a.name for a in ua.view("agr-1").latest.annexes] == [files["map"].name]
    ua.post_text("agr-1", "Line of contact", ARTICLES, annexes=[files["map"], files["list"]])
    versions = ua.view("agr-1").versions
    assert versions[-1].sha256 == versions[0].sha256  # the same text ...
    ua.finalize("agr-1")
    documents = [ua.view("agr-1").document(ua.negotiation.id)]
    assert "annex-2-prisoners.txt" in documents[0]  # ... signed with the annex list of the finalized version


def test_annex_names_a_bundle_cannot_hold_are_refused_before_anything_is_posted(desks, files, tmp_path):
    hidden = tmp_path / ".secret"
    hidden.write_text("x")
    ua = desks["ua"]

    def logged() -> int:
        ua.client.sync(ua.negotiation.id)
        return len(list(ua.client.cache.events(ua.negotiation.id)))

    before = logged()
    with pytest.raises(InputError, match="plain file name"):
        desks["ua"].post_text("agr-1", "Line of contact", ARTICLES, annexes=[hidden])
    with pytest.raises(InputError, match="two annexes"):
        desks["ua"].post_text("agr-1", "Line of contact", ARTICLES, annexes=[files["map"], files["map"]])
    with pytest.raises(InputError, match="not a file"):
        desks["ua"].post_text("agr-1", "Line of contact", ARTICLES, annexes=[tmp_path / "nothing.pdf"])
    assert logged() == before


def test_relay_serving_other_annex_bytes_is_refused(trio, desks, files, compromise, tmp_path):
    nid = trio.nid
    evil = compromise(trio.swiss)
    desks["ua"].post_text("agr-1", "Line of contact", ARTICLES, annexes=[files["map"], files["list"]])
    chunks = [seq for seq, _, body, _ in trio.ukraine.cache.events(nid)
              if body is not None and body["type"] == ATTACHMENT_CHUNK]
    log = evil.full_log(nid)
    target, other = (event_id_of(next(i for i in log if i["seq"] == seq)) for seq in (chunks[0], chunks[-1]))

    def other_bytes(items):
        # The relay serves the genuine ciphertext of another chunk (the prisoners list) as the map's first chunk.
        by_id = {event_id_of(i): i for i in items}
        by_id[target]["event"]["ciphertexts"] = by_id[other]["event"]["ciphertexts"]
        return items

    evil.events = other_bytes
    with pytest.raises(ProtocolError, match="does not match the digest its author signed"):
        trio.swiss.sync(nid)
    out = tmp_path / "map.png"
    with pytest.raises(Exception, match="no attachment|no agreement"):
        desks["ch"].negotiation.save_attachment("att-none", out)
    assert not out.exists() and not out.with_name("map.png.part").exists()
    evil.honest()
    annex = desks["ch"].negotiation.fresh_views() and desks["ch"].view("agr-1").latest.annexes[0]
    saved = desks["ch"].negotiation.save_attachment(annex.attachment_id, out)
    assert saved.read_bytes() == files["map"].read_bytes()
