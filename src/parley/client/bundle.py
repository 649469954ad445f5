"""The publication bundle of a released agreement, and its offline verification.

A bundle is a folder (and a ``.zip`` of it) that anyone can check with no relay
and no parley: ``ssh-keygen -Y verify`` for each signature (see VERIFY.md).

    agreement.txt          exactly the signed bytes: a header block naming the negotiation, the
                           agreement, the version and the text's SHA-256, a blank line, the text
    allowed_signers        two lines per signing head (ssh-keygen format), one per namespace
    signatures/<party>.sig SSHSIG, namespace agreement-v2@parley
    consents/<party>.sig   SSHSIG, namespace release-v2@parley
    annexes/<name>         each annex of the signed version, listed in agreement.txt's header block
                           (``Annex: <sha256> <size> <name>``) and so signed with the text
    checkpoint.txt         the relay's C2SP signed checkpoint
    bundle.json            ... and "witnesses": each party's C2SP cosignature of a checkpoint holding
                           every event above, with a consistency proof to checkpoint.txt
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
from parley.crypto.sshsig import allowed_signers_line, ssh_public_key_line, sshsig_verify
from parley.errors import InputError, ParleyError, VerificationError
from parley.protocol.agreement import (
    LEGACY_RELEASE_NAMESPACE,
    LEGACY_SIGN_NAMESPACE,
    RELEASE_NAMESPACE,
    SIGN_NAMESPACE,
    check_annexes,
    parse_signed_document,
    text_sha256,
)
from parley.protocol.events import Envelope
from parley.protocol.public_bodies import (
    LoggedPublication,
    Publication,
    PublishedAct,
    PublishedText,
    decode_logged_publication,
)
from parley.protocol.state import PUBLICATION
from parley.tlog import merkle
from parley.tlog.checkpoint import open_checkpoint

#: 2: agreement.txt is the signed document (header block + text). 1: the bare text, signatures bound to
#: nothing but the text (still verified, with a warning).
BUNDLE_VERSION = 2
_NAMESPACES = {1: (LEGACY_SIGN_NAMESPACE, LEGACY_RELEASE_NAMESPACE), 2: (SIGN_NAMESPACE, RELEASE_NAMESPACE)}


def slug(name: str) -> str:
    """A file-name-safe form of a party name: 'Türkiye' -> 'turkiye'."""
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name.replace("ı", "i")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "party"


def principal(party: str) -> str:
    return f"{slug(party)}@parley"


def write_bundle(out: Path, *, publication: Publication, negotiation_id: str, relay_vkey: str, checkpoint_note: str,
                 checkpoint_size: int, leaves: dict[str, dict[str, Any]],
                 witnesses: list[dict[str, Any]] | None = None) -> Path:
    """Write the bundle folder and its zip; returns the zip path.

    ``leaves`` maps a label (``publication`` or ``sign:<party id>``) to
    ``{"seq", "leaf" (base64 leaf bytes), "inclusion_proof" [base64]}`` at ``checkpoint_size``, and ``"event"``
    (``{"header", "signature"}``) where the leaf is a hidden entry (a version 2 encrypted event).
    ``witnesses``: the parties' cosignatures (``parley.client.witness.witness_evidence``).

    Raises:
        InputError: a signature or consent of the publication that names no party, key or signature.
    """
    if out.exists():
        shutil.rmtree(out)
    (out / "signatures").mkdir(parents=True)
    (out / "consents").mkdir()
    document = publication.document
    (out / "agreement.txt").write_bytes(document.encode("utf-8"))
    # A text in several languages: one file per other language, each signed by every head.
    languages = publication.languages or []
    texts = publication.texts or {}
    others = {code: _given(texts[code].document if code in texts else None, f"{code} document")
              for code in languages[1:]}
    for code, other in others.items():
        (out / f"agreement.{code}.txt").write_bytes(other.encode("utf-8"))
    signer_lines, signers = [], []
    for party_id, item in sorted(publication.signatures.items(), key=lambda kv: kv[1].party or ""):
        name = _given(item.party, "name of a signer's party")
        key = load_public_key(_given(item.public_key, f"public key of {name}"))
        signer_lines.append(allowed_signers_line(principal(name), key, SIGN_NAMESPACE))
        signer_lines.append(allowed_signers_line(principal(name), key, RELEASE_NAMESPACE))
        (out / "signatures" / f"{slug(name)}.sig").write_text(_given(item.signature, f"signature of {name}"))
        by_language = {}
        for code in others:
            armored = _given((item.languages or {}).get(code), f"{code} signature of {name}")
            (out / "signatures" / f"{slug(name)}.{code}.sig").write_text(armored)
            by_language[code] = f"signatures/{slug(name)}.{code}.sig"
        consent = publication.consents.get(party_id)
        (out / "consents" / f"{slug(name)}.sig").write_text(
            _given(consent.signature if consent else None, f"release consent of {name}"))
        signers.append({"party_id": party_id, "party": name, "principal": principal(name),
                        "member_device": item.member, "public_key": ssh_public_key_line(key),
                        "signature": f"signatures/{slug(name)}.sig", "consent": f"consents/{slug(name)}.sig",
                        "sign_event": leaves.get(f"sign:{party_id}"),
                        **({"language_signatures": by_language} if by_language else {})})
    (out / "allowed_signers").write_text("\n".join(signer_lines) + "\n")
    (out / "checkpoint.txt").write_text(checkpoint_note)
    bundle = {"bundle_version": BUNDLE_VERSION, "agreement_id": publication.agreement_id,
              "title": publication.title, "negotiation_id": negotiation_id, "version": publication.version,
              "text_sha256": text_sha256(publication.text),
              "document_sha256": hashlib.sha256(document.encode("utf-8")).hexdigest(),
              "namespace": SIGN_NAMESPACE, "release_namespace": RELEASE_NAMESPACE, "relay_vkey": relay_vkey,
              "checkpoint_size": checkpoint_size, "signers": signers, "publication_event": leaves.get("publication"),
              "witnesses": witnesses or []}
    if publication.annexes:
        # The files themselves are written by the caller, from the decrypted log, each checked on the way.
        bundle["annexes"] = [{"name": a["name"], "size": a["size"], "sha256": a["sha256"],
                              "file": f"annexes/{a['name']}"} for a in check_annexes(publication.annexes)]
    if others:
        bundle["languages"] = languages
        bundle["prevailing"] = publication.prevailing
        bundle["language_texts"] = {code: {"file": f"agreement.{code}.txt",
                                           "document_sha256": hashlib.sha256(o.encode()).hexdigest()}
                                    for code, o in others.items()}
    (out / "bundle.json").write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
    (out / "VERIFY.md").write_text(_verify_md(bundle))
    archive = shutil.make_archive(str(out), "zip", root_dir=out)
    return Path(archive)


def _verify_md(bundle: dict[str, Any]) -> str:
    lines = [f"# Verifying '{bundle['title']}'", "",
             "`agreement.txt` opens with a header block naming the negotiation, the agreement, the finalized",
             "version and the SHA-256 of the text that follows it: every party's head of delegation signed exactly",
             "these bytes with SSHSIG, and consented to their release. Check each signature and consent with",
             "OpenSSH alone (no parley, no network):", "", "```sh"]
    for signer in bundle["signers"]:
        lines.append(f"ssh-keygen -Y verify -f allowed_signers -I {signer['principal']} -n {bundle['namespace']} "
                     f"-s {signer['signature']} < agreement.txt")
        lines.append(f"ssh-keygen -Y verify -f allowed_signers -I {signer['principal']} "
                     f"-n {bundle['release_namespace']} -s {signer['consent']} < agreement.txt")
    for code, other in (bundle.get("language_texts") or {}).items():
        for signer in bundle["signers"]:
            lines.append(f"ssh-keygen -Y verify -f allowed_signers -I {signer['principal']} -n {bundle['namespace']} "
                         f"-s {signer['language_signatures'][code]} < {other['file']}")
    lines += ["```", ""]
    if bundle.get("language_texts"):
        lines += [f"The agreement is done in {', '.join(bundle['languages'])}: `agreement.txt` holds the "
                  f"{bundle['languages'][0]} text, `agreement.<language>.txt` each other one; every header block names",
                  "its language and every authentic text's SHA-256 (`Authentic-texts:`), and every head signed each",
                  "language's file. The release consents are given on `agreement.txt`.", ""]
    if bundle.get("annexes"):
        lines += ["The agreement has annexes. Each is named in the header block of `agreement.txt` by an",
                  "`Annex: <sha256> <size> <name>` line, so the signatures above cover them; check each file's",
                  "SHA-256 and size against its line:", "", "```sh", "grep '^Annex: ' agreement.txt"]
        for annex in bundle["annexes"]:
            quoted = "'" + annex["file"].replace("'", "'\\''") + "'"
            lines.append(f"sha256sum {quoted}; stat -c %s {quoted}   # {annex['sha256']} {annex['size']}")
        lines += ["```", ""]
    lines += [f"`sha256sum agreement.txt` must print `{bundle['document_sha256']}`; the text after the",
              f"header block hashes to `{bundle['text_sha256']}`, the value its `Text-SHA256:` line names.", "",
              "`parley verify .` checks all of it, plus the inclusion of the publication and the signing",
              "events in the relay's signed log (`checkpoint.txt`, proofs in `bundle.json`).", ""]
    return "\n".join(lines)


def verify_bundle(path: Path, require_cosignatures: str | int | None = None) -> dict[str, Any]:
    """Check a bundle folder or zip offline.

    Returns a report ``{"valid": bool, "failures": [...], "checked": [...], "warnings": [...]}``; each
    failure names the file or element that failed. Format 1 bundles (signatures over the bare text) still
    verify, with a warning saying what their signatures do not cover; an unknown format is refused.

    ``require_cosignatures``: ``"all"`` (every signing party) or ``k``: that many distinct parties must
    have cosigned a checkpoint holding every event of the bundle (C2SP tlog-cosignature), or the bundle
    is invalid. None: cosignatures are checked when present but not required.

    Raises:
        InputError: a quorum outside 1..number of signing parties.
    """
    import tempfile
    import zipfile

    if path.is_file() and path.suffix == ".zip":
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(path) as archive:
                archive.extractall(tmp)  # noqa: S202 - names checked below by only reading known files
            return verify_bundle(Path(tmp), require_cosignatures)
    failures: list[str] = []
    checked: list[str] = []

    def fail(what: str, why: str) -> None:
        failures.append(f"{what}: {why}")

    try:
        bundle = json.loads((path / "bundle.json").read_text())
        text_bytes = (path / "agreement.txt").read_bytes()
    except (OSError, ValueError) as exc:
        return {"valid": False, "failures": [f"bundle.json / agreement.txt: unreadable ({exc})"], "checked": []}
    version = bundle.get("bundle_version")
    if version not in _NAMESPACES:
        return {"valid": False, "failures": [f"bundle.json: bundle format {version!r} is not one this version of "
                                             f"parley knows (1 or 2): upgrade parley to verify it"],
                "checked": [], "warnings": []}
    sign_namespace, release_namespace = _NAMESPACES[version]
    warnings: list[str] = []
    if version == 1:
        signed_text = text_bytes
        warnings.append("bundle format 1: its signatures cover the text alone, not the negotiation, the agreement "
                        "or the version; the same text signed elsewhere would carry the same signatures")
    else:
        try:
            document = parse_signed_document(text_bytes.decode("utf-8"))
        except (UnicodeDecodeError, InputError) as exc:
            fail("agreement.txt", f"not a signed agreement document ({exc})")
            document = {"text": ""}
        for key in ("negotiation_id", "agreement_id", "version"):
            if key in document and document[key] != bundle.get(key):
                fail("agreement.txt", f"its header block names another {key.replace('_', ' ')} than bundle.json")
        signed_text = document["text"].encode("utf-8")
        if hashlib.sha256(text_bytes).hexdigest() != bundle.get("document_sha256"):
            fail("agreement.txt", "its SHA-256 differs from bundle.json")
    if hashlib.sha256(signed_text).hexdigest() != bundle.get("text_sha256"):
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
    publication_sigs: dict[str, PublishedAct] = {}
    logged_texts: dict[str, PublishedText] = {}
    publication = bundle.get("publication_event")
    if publication and checkpoint is not None:
        envelope = _check_leaf("bundle.json publication_event", publication, checkpoint, fail)
        if envelope is not None:
            logged_publication = _logged_publication(envelope, fail)
            if logged_publication is not None:
                logged = logged_publication.text if version == 1 else logged_publication.document
                if logged != text_bytes.decode("utf-8", "replace"):
                    fail("bundle.json publication_event", "the logged publication carries another text")
                publication_sigs = logged_publication.signatures
                logged_texts = logged_publication.texts or {}
    elif not publication:
        fail("bundle.json", "no publication event")
    for signer in bundle.get("signers", []):
        name = signer.get("party", "?")
        for kind, namespace in (("signature", sign_namespace), ("consent", release_namespace)):
            # ssh-keygen takes a key for a principal only from a line listing the namespace; format 1
            # bundles listed the signing namespace alone, and parley checked consents with that key.
            key_line = allowed.get((signer.get("principal"), namespace))
            if key_line is None and version == 1:
                key_line = allowed.get((signer.get("principal"), sign_namespace))
            if key_line is None:
                fail("allowed_signers", f"no line for {signer.get('principal')} in namespace {namespace}")
                continue
            rel = signer.get(kind, "")
            try:
                armored = (path / rel).read_text()
                sshsig_verify(armored, text_bytes, namespace, key_line)
                checked.append(rel)
            except (OSError, ParleyError):
                fail(rel or f"{kind} of {name}", f"the {kind} of {name} does not verify over agreement.txt")
                continue
            if kind == "signature" and publication_sigs:
                logged_act = publication_sigs.get(signer.get("party_id"))
                if logged_act is None or logged_act.signature != armored:
                    fail(rel, f"differs from the signature of {name} recorded in the log")
        if signer.get("sign_event") and checkpoint is not None:
            _check_leaf(f"bundle.json sign event of {name}", signer["sign_event"], checkpoint, fail)
    _verify_languages(path, bundle, document if version != 1 else {}, allowed, sign_namespace,
                      logged_texts, fail, checked)
    _verify_annexes(path, bundle, document.get("annexes", []) if version != 1 else [], fail, checked)
    if not bundle.get("signers"):
        fail("bundle.json", "no signers")
    from parley.client.bundle_witness import check_witnesses

    if checkpoint is not None:
        check_witnesses(bundle, checkpoint, require_cosignatures, fail, checked)
    elif require_cosignatures is not None:
        fail("bundle.json witnesses", "no valid checkpoint to check the cosignatures against")
    # A file is reported once: as checked only when nothing about it failed.
    failed = {failure.split(": ", 1)[0] for failure in failures}
    checked = [item for item in dict.fromkeys(checked) if item not in failed]
    return {"valid": not failures, "failures": failures, "checked": checked, "warnings": warnings}


def _verify_languages(path: Path, bundle: dict[str, Any], document: dict[str, Any], allowed: dict, namespace: str,
                      logged_texts: dict[str, PublishedText], fail, checked: list[str]) -> None:  # noqa: ANN001
    """Each other language's file of a text in several languages: a signed document naming its language and
    the same authentic texts as ``agreement.txt``, its digest listed there, signed by every signer."""
    authentic = document.get("authentic")
    listed = [part.split("=")[0] for part in authentic.split(";")[0].split(", ")] if authentic else []
    expected = bundle.get("languages") or []
    if listed != expected[:len(listed)] or (listed and listed != expected):
        fail("bundle.json", "its languages differ from the authentic texts agreement.txt names")
    for code, other in (bundle.get("language_texts") or {}).items():
        rel = other.get("file", "")
        try:
            data = (path / rel).read_bytes()
            parsed = parse_signed_document(data.decode("utf-8"))
        except (OSError, UnicodeDecodeError, InputError) as exc:
            fail(rel or f"the {code} text", f"not a signed agreement document ({exc})")
            continue
        if parsed.get("language") != code or parsed.get("authentic") != authentic:
            fail(rel, f"does not name the {code} text among the same authentic texts as agreement.txt")
        for key in ("negotiation_id", "agreement_id", "version"):
            if parsed[key] != bundle.get(key):
                fail(rel, f"its header block names another {key.replace('_', ' ')} than bundle.json")
        if f"{code}={parsed['text_sha256']}" not in (authentic or ""):
            fail(rel, "its text's SHA-256 is not the one the authentic texts name")
        if hashlib.sha256(data).hexdigest() != other.get("document_sha256"):
            fail(rel, "its SHA-256 differs from bundle.json")
        logged_text = logged_texts.get(code)
        if logged_texts and (logged_text is None or logged_text.document != data.decode("utf-8")):
            fail(rel, "differs from the text of that language in the logged publication")
        checked.append(rel)
        for signer in bundle.get("signers", []):
            key_line = allowed.get((signer.get("principal"), namespace))
            sig = (signer.get("language_signatures") or {}).get(code, "")
            try:
                if key_line is None:
                    raise VerificationError("no key")
                sshsig_verify((path / sig).read_text(), data, namespace, key_line)
                checked.append(sig)
            except (OSError, ParleyError):
                fail(sig or f"{code} signature of {signer.get('party')}",
                     f"the signature of {signer.get('party')} does not verify over {rel}")
    missing = [code for code in listed[1:] if code not in (bundle.get("language_texts") or {})]
    if missing:
        fail("bundle.json", f"no file for the authentic {', '.join(missing)} text")


def _verify_annexes(path: Path, bundle: dict[str, Any], signed: list[dict[str, Any]], fail,  # noqa: ANN001
                    checked: list[str]) -> None:
    """Each annex the signed document lists (``Annex:`` lines): its file under ``annexes/`` has that size and
    SHA-256; bundle.json lists the same annexes; no other file poses as an annex."""
    from parley.protocol.agreement import check_annex_name

    listed = [{k: a.get(k) for k in ("name", "size", "sha256")} for a in bundle.get("annexes") or []]
    if listed != signed:
        fail("bundle.json", "its annexes differ from the annexes agreement.txt lists (and its signers signed)")
    for annex in signed:
        try:
            rel = f"annexes/{check_annex_name(annex['name'])}"
        except InputError as exc:
            fail("agreement.txt", str(exc))
            continue
        digest, size = hashlib.sha256(), 0
        try:
            with (path / rel).open("rb") as handle:
                while block := handle.read(1024 * 1024):
                    digest.update(block)
                    size += len(block)
        except OSError:
            fail(rel, "missing: the signed version lists this annex")
            continue
        if size != annex["size"] or digest.hexdigest() != annex["sha256"]:
            fail(rel, "its size or SHA-256 differs from the Annex line of agreement.txt: not the annex that was "
                      "signed")
            continue
        checked.append(rel)
    folder = path / "annexes"
    if folder.is_dir():
        names = {a["name"] for a in signed}
        for extra in sorted(p.name for p in folder.iterdir() if p.name not in names):
            fail(f"annexes/{extra}", "not an annex of the signed version")


def _read_allowed_signers(path: Path, fail) -> dict[tuple[str, str], Any]:  # noqa: ANN001
    """(principal, namespace) -> key, from the lines of an ``allowed_signers`` file."""
    keys: dict[tuple[str, str], Any] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        fail("allowed_signers", "missing")
        return keys
    from parley.crypto.sshsig import load_ssh_public_key

    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        try:
            key = load_ssh_public_key(f"{parts[-2]} {parts[-1]}")
        except InputError:
            fail("allowed_signers", f"unreadable key for {parts[0]}")
            continue
        for option in parts[1:-2]:
            if option.startswith('namespaces="') and option.endswith('"'):
                for namespace in option[len('namespaces="'):-1].split(","):
                    keys[(parts[0], namespace)] = key
    return keys


def _check_leaf(what: str, item: dict[str, Any], checkpoint, fail) -> Envelope | None:  # noqa: ANN001
    try:
        leaf = base64.b64decode(item["leaf"], validate=True)
        proof = [base64.b64decode(p, validate=True) for p in item["inclusion_proof"]]
        merkle.verify_inclusion(merkle.leaf_hash(leaf), item["seq"], checkpoint.size, proof, checkpoint.root)
        obj = json.loads(leaf)
        if "header" not in obj:  # a version 2 encrypted event: the leaf is its hidden entry, the header beside it
            obj = item["event"]
        envelope = Envelope.from_obj({**obj, "ciphertexts": [None] * len(obj["header"]["ciphertexts"])})
        if envelope.leaf_bytes() != leaf:
            raise InputError("the event given beside the leaf is not the one the leaf commits")
        return envelope
    except (KeyError, ValueError, TypeError, ParleyError) as exc:
        fail(what, f"not included in the signed log ({exc})")
        return None


def ensure_valid(report: dict[str, Any]) -> None:
    """Raises: VerificationError naming the first failure."""
    if not report["valid"]:
        raise VerificationError("bundle does not verify: " + "; ".join(report["failures"]))


def _given(value: str | None, what: str) -> str:
    """``value``, which a publication the relay accepted always holds.

    Raises:
        InputError: it is missing (a publication that names no such signature, key or text).
    """
    if value is None:
        raise InputError(f"the publication carries no {what}")
    return value


def _logged_publication(envelope: Envelope, fail) -> LoggedPublication | None:  # noqa: ANN001
    """The publication event's content, typed as any format wrote it; a logged publication that does not match
    its declaration is a failure of the bundle (the relay refuses such an event: only a forged log holds one)."""
    public = envelope.header.public or {}
    if public.get("type") != PUBLICATION:
        fail("bundle.json publication_event", "not a publication")
        return None
    try:
        return decode_logged_publication(public.get("content"))
    except InputError as exc:
        fail("bundle.json publication_event", f"not a publication ({exc})")
        return None
