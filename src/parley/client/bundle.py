"""The publication bundle of a released agreement, and its offline verification.

A bundle is a folder (and a ``.zip`` of it) that anyone can check with no relay
and no parley: ``ssh-keygen -Y verify`` for each signature (see VERIFY.md).

    agreement.txt          the canonical text, exactly the signed bytes
    allowed_signers        one line per signing head (ssh-keygen format)
    signatures/<party>.sig SSHSIG, namespace agreement-v1@parley
    consents/<party>.sig   SSHSIG, namespace release-v1@parley
    checkpoint.txt         the relay's C2SP signed checkpoint
    bundle.json            ids, hashes, signers, log leaves and inclusion proofs
    VERIFY.md              the exact commands
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from parley.crypto.keys import load_public_key
from parley.crypto.sshsig import AGREEMENT_NAMESPACE, allowed_signers_line, ssh_public_key_line, sshsig_verify
from parley.errors import ParleyError, VerificationError
from parley.protocol.agreement import RELEASE_NAMESPACE, text_sha256
from parley.protocol.events import Envelope
from parley.tlog import merkle
from parley.tlog.checkpoint import open_checkpoint

BUNDLE_VERSION = 1


def slug(name: str) -> str:
    """A file-name-safe form of a party name: 'Türkiye' -> 'turkiye'."""
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name.replace("ı", "i")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "party"


def principal(party: str) -> str:
    return f"{slug(party)}@parley"


def write_bundle(out: Path, *, publication: dict[str, Any], negotiation_id: str, relay_vkey: str, checkpoint_note: str,
                 checkpoint_size: int, leaves: dict[str, dict[str, Any]]) -> Path:
    """Write the bundle folder and its zip; returns the zip path.

    ``leaves`` maps a label (``publication`` or ``sign:<party id>``) to
    ``{"seq", "leaf" (base64 leaf bytes), "inclusion_proof" [base64]}`` at ``checkpoint_size``.
    """
    if out.exists():
        shutil.rmtree(out)
    (out / "signatures").mkdir(parents=True)
    (out / "consents").mkdir()
    text = publication["text"]
    (out / "agreement.txt").write_bytes(text.encode("utf-8"))
    signer_lines, signers = [], []
    for party_id, item in sorted(publication["signatures"].items(), key=lambda kv: kv[1]["party"]):
        name = item["party"]
        key = load_public_key(item["public_key"])
        signer_lines.append(allowed_signers_line(principal(name), key, AGREEMENT_NAMESPACE))
        (out / "signatures" / f"{slug(name)}.sig").write_text(item["signature"])
        consent = publication["consents"][party_id]
        (out / "consents" / f"{slug(name)}.sig").write_text(consent["signature"])
        signers.append({"party_id": party_id, "party": name, "principal": principal(name),
                        "member_device": item["member"], "public_key": ssh_public_key_line(key),
                        "signature": f"signatures/{slug(name)}.sig", "consent": f"consents/{slug(name)}.sig",
                        "sign_event": leaves.get(f"sign:{party_id}")})
    (out / "allowed_signers").write_text("\n".join(signer_lines) + "\n")
    (out / "checkpoint.txt").write_text(checkpoint_note)
    bundle = {"bundle_version": BUNDLE_VERSION, "agreement_id": publication["agreement_id"],
              "title": publication["title"], "negotiation_id": negotiation_id, "text_sha256": text_sha256(text),
              "namespace": AGREEMENT_NAMESPACE, "release_namespace": RELEASE_NAMESPACE, "relay_vkey": relay_vkey,
              "checkpoint_size": checkpoint_size, "signers": signers, "publication_event": leaves.get("publication")}
    (out / "bundle.json").write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
    (out / "VERIFY.md").write_text(_verify_md(bundle))
    archive = shutil.make_archive(str(out), "zip", root_dir=out)
    return Path(archive)


def _verify_md(bundle: dict[str, Any]) -> str:
    lines = [f"# Verifying '{bundle['title']}'", "",
             "Every party's head of delegation signed `agreement.txt` with SSHSIG. Check each signature with",
             "OpenSSH alone (no parley, no network):", "", "```sh"]
    for signer in bundle["signers"]:
        lines.append(f"ssh-keygen -Y verify -f allowed_signers -I {signer['principal']} -n {bundle['namespace']} "
                     f"-s {signer['signature']} < agreement.txt")
    lines += ["```", "", f"`sha256sum agreement.txt` must print `{bundle['text_sha256']}`.", "",
              "`parley verify .` checks all of it, plus the release consents and the inclusion of the signing",
              "events in the relay's signed log (`checkpoint.txt`, proofs in `bundle.json`).", ""]
    return "\n".join(lines)


def verify_bundle(path: Path) -> dict[str, Any]:
    """Check a bundle folder or zip offline.

    Returns a report ``{"valid": bool, "failures": [...], "checked": [...]}``; each failure names the
    file or element that failed.
    """
    import tempfile
    import zipfile

    if path.is_file() and path.suffix == ".zip":
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(path) as archive:
                archive.extractall(tmp)  # noqa: S202 - names checked below by only reading known files
            return verify_bundle(Path(tmp))
    failures: list[str] = []
    checked: list[str] = []

    def fail(what: str, why: str) -> None:
        failures.append(f"{what}: {why}")

    try:
        bundle = json.loads((path / "bundle.json").read_text())
        text_bytes = (path / "agreement.txt").read_bytes()
    except (OSError, ValueError) as exc:
        return {"valid": False, "failures": [f"bundle.json / agreement.txt: unreadable ({exc})"], "checked": []}
    if hashlib.sha256(text_bytes).hexdigest() != bundle.get("text_sha256"):
        fail("agreement.txt", "its SHA-256 differs from bundle.json")
    checked.append("agreement.txt")
    allowed = _read_allowed_signers(path / "allowed_signers", fail)
    checkpoint = None
    try:
        checkpoint = open_checkpoint((path / "checkpoint.txt").read_text(), [bundle["relay_vkey"]],
                                     expected_origin=None)
        if checkpoint.size != bundle.get("checkpoint_size"):
            fail("checkpoint.txt", "size differs from bundle.json")
        checked.append("checkpoint.txt")
    except (OSError, ParleyError, KeyError) as exc:
        fail("checkpoint.txt", f"not a valid signed checkpoint of the relay ({exc})")
    publication_sigs: dict[str, Any] = {}
    publication = bundle.get("publication_event")
    if publication and checkpoint is not None:
        envelope = _check_leaf("bundle.json publication_event", publication, checkpoint, fail)
        if envelope is not None:
            content = (envelope.header.public or {}).get("content") or {}
            if content.get("text") != text_bytes.decode("utf-8", "replace"):
                fail("bundle.json publication_event", "the logged publication carries another text")
            publication_sigs = content.get("signatures") or {}
    elif not publication:
        fail("bundle.json", "no publication event")
    for signer in bundle.get("signers", []):
        name = signer.get("party", "?")
        key_line = allowed.get(signer.get("principal"))
        if key_line is None:
            fail("allowed_signers", f"no line for {signer.get('principal')}")
            continue
        for kind, namespace in (("signature", AGREEMENT_NAMESPACE), ("consent", RELEASE_NAMESPACE)):
            rel = signer.get(kind, "")
            try:
                armored = (path / rel).read_text()
                sshsig_verify(armored, text_bytes, namespace, key_line)
                checked.append(rel)
            except (OSError, ParleyError):
                fail(rel or f"{kind} of {name}", f"the {kind} of {name} does not verify over agreement.txt")
                continue
            if kind == "signature" and publication_sigs:
                logged = publication_sigs.get(signer.get("party_id"), {})
                if logged.get("signature") != armored:
                    fail(rel, f"differs from the signature of {name} recorded in the log")
        if signer.get("sign_event") and checkpoint is not None:
            _check_leaf(f"bundle.json sign event of {name}", signer["sign_event"], checkpoint, fail)
    if not bundle.get("signers"):
        fail("bundle.json", "no signers")
    return {"valid": not failures, "failures": failures, "checked": checked}


def _read_allowed_signers(path: Path, fail) -> dict[str, Any]:  # noqa: ANN001
    keys: dict[str, Any] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        fail("allowed_signers", "missing")
        return keys
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        try:
            keys[parts[0]] = load_ssh_public_key(f"{parts[-2]} {parts[-1]}".encode())
        except ValueError:
            fail("allowed_signers", f"unreadable key for {parts[0]}")
    return keys


def _check_leaf(what: str, item: dict[str, Any], checkpoint, fail) -> Envelope | None:  # noqa: ANN001
    try:
        leaf = base64.b64decode(item["leaf"], validate=True)
        proof = [base64.b64decode(p, validate=True) for p in item["inclusion_proof"]]
        merkle.verify_inclusion(merkle.leaf_hash(leaf), item["seq"], checkpoint.size, proof, checkpoint.root)
        obj = json.loads(leaf)
        return Envelope.from_obj({**obj, "ciphertexts": [None] * len(obj["header"]["ciphertexts"])})
    except (KeyError, ValueError, TypeError, ParleyError) as exc:
        fail(what, f"not included in the signed log ({exc})")
        return None


def ensure_valid(report: dict[str, Any]) -> None:
    """Raises: VerificationError naming the first failure."""
    if not report["valid"]:
        raise VerificationError("bundle does not verify: " + "; ".join(report["failures"]))
