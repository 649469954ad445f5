"""An agreement done in English, Ukrainian and Russian: heads sign every language's text, the bundle has one
file per language, each verifiable with ssh-keygen, and parley verify checks all."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from parley.client.agreement import AgreementDesk
from parley.client.bundle import verify_bundle
from parley.client.workflow import Negotiation
from parley.crypto.sshsig import sshsig_sign
from parley.demo import AGREEMENT_ARTICLES, AGREEMENT_TITLE, AGREEMENT_TRANSLATIONS
from parley.protocol import agreement as ag


@pytest.fixture
def desks(world):
    turkiye = world.party("Türkiye", member="Mediator")
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    nid = world.negotiation(turkiye, ukraine, russia)
    return {name: AgreementDesk(Negotiation(client, nid)) for name, client in
            (("tr", turkiye), ("ua", ukraine), ("ru", russia))}


def _finalized(desks, prevailing=None):
    desks["tr"].post_text("istanbul", AGREEMENT_TITLE, AGREEMENT_ARTICLES, language="en",
                          translations=AGREEMENT_TRANSLATIONS, prevailing=prevailing)
    desks["tr"].finalize("istanbul")


def _view(desk):
    desk.negotiation.fresh_views()
    return desk.view("istanbul")


def _published(desks, tmp_path):
    _finalized(desks)
    for name in ("tr", "ua", "ru"):
        desks[name].sign("istanbul")
    for name in ("tr", "ua", "ru"):
        desks[name].consent_to_release("istanbul")
    desks["ua"].publish("istanbul")
    folder = tmp_path / "publication"
    desks["ru"].bundle("istanbul", folder)
    return folder


def test_every_language_has_its_signed_document_naming_all_authentic_texts(desks):
    _finalized(desks, prevailing="en")
    view = _view(desks["ua"])
    documents = {code: view.document(desks["ua"].negotiation.id, code) for code in ("en", "uk", "ru")}
    for code, document in documents.items():
        parsed = ag.parse_signed_document(document)
        assert parsed["language"] == code and parsed["agreement_id"] == "istanbul"
        assert parsed["authentic"].endswith("; en prevails in case of divergence")
        assert parsed["authentic"].startswith("en=") and ", uk=" in parsed["authentic"]
    assert "Сторони дотримуються припинення вогню" in documents["uk"]
    assert len({ag.parse_signed_document(d)["authentic"] for d in documents.values()}) == 1


def test_heads_sign_every_language_and_the_bundle_has_one_file_per_language(desks, tmp_path):
    folder = _published(desks, tmp_path)
    report = verify_bundle(folder)
    assert report["valid"], report["failures"]
    for name in ("agreement.uk.txt", "agreement.ru.txt", "signatures/ukraine.uk.sig", "signatures/turkiye.ru.sig"):
        assert name in report["checked"], name
    assert "Стамбульский меморандум о взаимопонимании" in (folder / "agreement.ru.txt").read_text()
    assert "each text equally authentic" in (folder / "agreement.txt").read_text()
    assert "agreement.uk.txt" in (folder / "VERIFY.md").read_text()


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_ssh_keygen_verifies_every_language_file_and_rejects_a_modified_translation(desks, tmp_path):
    folder = _published(desks, tmp_path)
    bundle = json.loads((folder / "bundle.json").read_text())
    for code, text in bundle["language_texts"].items():
        data = (folder / text["file"]).read_bytes()
        for signer in bundle["signers"]:
            command = ["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", signer["principal"], "-n",
                       bundle["namespace"], "-s", signer["language_signatures"][code]]
            ok = subprocess.run(command, cwd=folder, input=data, capture_output=True)
            assert ok.returncode == 0, ok.stderr
            bad = subprocess.run(command, cwd=folder, input=data.replace("тридцяти".encode(), "десяти".encode())
                                 .replace("тридцати".encode(), "десяти".encode()), capture_output=True)
            assert bad.returncode != 0


@pytest.mark.parametrize("victim", ["agreement.uk.txt", "signatures/ukraine.ru.sig"])
def test_translation_swapped_in_a_bundle_after_signing_is_detected_and_named(desks, tmp_path, victim):
    folder = _published(desks, tmp_path)
    target = folder / victim
    if victim.endswith(".txt"):
        target.write_text(target.read_text().replace("тридцяти", "десяти"))
    else:
        target.write_text((folder / "signatures" / "ukraine.uk.sig").read_text())  # the Ukrainian signature
    report = verify_bundle(folder)
    assert not report["valid"]
    assert any(victim in failure for failure in report["failures"]), report["failures"]


def test_head_signing_the_english_text_alone_is_not_counted(desks):
    """A head who signs only the first language has not signed the agreement: every language is authentic."""
    _finalized(desks)
    ru = desks["ru"]
    view = _view(ru)
    signing = ru.client.identity.signing
    document = view.document(ru.negotiation.id)
    ru.client.post(ru.negotiation.id, ag.SIGN, {
        "agreement_id": "istanbul", "text_sha256": view.finalized.sha256, "version": view.finalized.version,
        "signature": sshsig_sign(signing.private, document.encode("utf-8"), ag.SIGN_NAMESPACE)},
        parties=ru.parties(), authority="head")
    summary = desks["tr"].summary("istanbul")
    assert "Russian Federation" in summary["awaiting_signature"]
    assert any("the uk text is not signed" in v for v in summary["violations"])


def test_signature_of_one_language_presented_for_another_is_refused(desks):
    _finalized(desks)
    ru = desks["ru"]
    view = _view(ru)
    signing = ru.client.identity.signing

    def sign(code):
        return sshsig_sign(signing.private, view.document(ru.negotiation.id, code).encode("utf-8"), ag.SIGN_NAMESPACE)

    ru.client.post(ru.negotiation.id, ag.SIGN, {
        "agreement_id": "istanbul", "text_sha256": view.finalized.sha256, "version": view.finalized.version,
        "signature": sign("en"), "signatures": {"uk": sign("uk"), "ru": sign("uk")}},
        parties=ru.parties(), authority="head")
    summary = desks["tr"].summary("istanbul")
    assert "Russian Federation" in summary["awaiting_signature"]
    assert any("ru text" in v for v in summary["violations"])
