"""``parley demo``: the negotiation from the news report, played end to end on a local relay.

A relay on SQLite starts inside the output folder on a free loopback port.
Four parties enrol (Ukraine, the Russian Federation, Türkiye as host and
mediator, the United States as observer), verify each other's fingerprints,
and negotiate. Everything the demo encrypts is listed in ``plaintexts.txt``
so anyone can check the relay database never holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from parley.client.profile import Profile
from parley.client.sdk import Client, verify_log
from parley.client.transport import InProcessTransport
from parley.client.workflow import Negotiation
from parley.crypto.canonical import canonical_bytes
from parley.crypto.fingerprint import fingerprint_digits
from parley.errors import ParleyError, VerificationError
from parley.relay.server import RelayConfig, init_relay, load_signer, open_relay_store
from parley.store.codec import unpack_header

DEMO_RELAY_NAME = "demo.parley"


@dataclass(frozen=True)
class Delegation:
    slug: str
    name: str
    head: str
    second: str
    second_role: str


DELEGATIONS = (
    Delegation("ukraine", "Ukraine", "Head of delegation (Minister of Defence)", "Delegate (legal adviser)", "delegate"),
    Delegation("russia", "Russian Federation", "Head of delegation (Presidential aide)", "Delegate (deputy foreign minister)", "delegate"),
    Delegation("turkiye", "Türkiye", "Mediator (Foreign Minister)", "Host coordinator", "delegate"),
    Delegation("usa", "United States", "Observer (Special Envoy)", "Observer staff", "observer"),
)


@dataclass
class Narrator:
    """Prints the story and keeps it for ``transcript.md``; records every plaintext encrypted."""

    console: Console
    lines: list[str] = field(default_factory=list)
    plaintexts: list[str] = field(default_factory=list)

    def scene(self, title: str) -> None:
        self.console.print(f"\n[bold]== {title}[/bold]")
        self.lines.append(f"\n## {title}\n")

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)
        self.lines.append(text + "  ")

    def encrypted(self, plaintext: str) -> None:
        self.plaintexts.append(plaintext)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalRelay:
    """A relay on a loopback port, served by uvicorn in a background thread."""

    def __init__(self, data_dir: Path, database: Path) -> None:
        import uvicorn

        from parley.relay.app import Relay, create_app

        self.config = RelayConfig.from_options(data_dir, str(database), DEMO_RELAY_NAME)
        # a new relay is created as an operator does it ('parley relay init'); an existing one is reopened
        signer = load_signer(self.config) if self.config.key_path.exists() else init_relay(self.config)[0]
        self.relay = Relay(open_relay_store(self.config), signer, DEMO_RELAY_NAME)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.relay), host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, name="demo-relay", daemon=True)

    def __enter__(self) -> LocalRelay:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the demo relay did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.relay.close()


def run_demo(out: Path, *, keep_ui: bool = False, console: Console | None = None) -> None:
    """Play the demo into ``out`` (wiped first: it belongs to the demo).

    Raises:
        ParleyError: a step failed; the message says which.
    """
    console = console or Console(highlight=False)
    passphrase = os.environ.get("PARLEY_PASSPHRASE") or "demo"
    os.environ["PARLEY_PASSPHRASE"] = passphrase
    if out.exists():
        shutil.rmtree(out)
    (out / "profiles").mkdir(parents=True)
    narrator = Narrator(console)
    narrator.lines.append("# parley demo transcript\n")
    started = time.monotonic()
    with contextlib.ExitStack() as relay_scope:
        local = relay_scope.enter_context(LocalRelay(out / "relay", out / "relay.db"))
        link = out / "relay.db"
        narrator.scene("A relay the parties do not need to trust")
        narrator.say(f"Relay '{DEMO_RELAY_NAME}' listens on {local.url}; it stores ciphertext in {link}.")
        narrator.say(f"Its checkpoint key: {local.relay.signer.vkey()}")
        heads, seconds = _enrol(local, out, passphrase, narrator)
        _verify_fingerprints(heads, narrator)
        negotiation_id = _open_negotiation(heads, narrator)
        scenes: list[Callable[..., None]] = _story_scenes()
        for scene in scenes:
            scene(negotiation_id, heads, seconds, narrator, out)
        _write_status(out, heads["ukraine"], negotiation_id, passphrase, narrator)
        _verify_everyone(negotiation_id, [*heads.values(), *seconds.values()], narrator)
        _tampered_copy(out, local, heads["ukraine"], negotiation_id, narrator)
        for client in [*heads.values(), *seconds.values()]:
            client.close()
        if keep_ui:
            relay_scope = relay_scope.pop_all()  # the relay keeps running for the UI below
    narrator.scene("Files left behind")
    narrator.say(f"{out}/relay.db (ciphertext only), {out}/profiles/<party>-<role>/ (passphrase from "
                 "PARLEY_PASSPHRASE, default 'demo'), transcript.md, plaintexts.txt")
    narrator.say(f"Demo finished in {time.monotonic() - started:.1f} s.")
    (out / "transcript.md").write_text("\n".join(narrator.lines) + "\n", encoding="utf-8")
    (out / "plaintexts.txt").write_text("\n".join(p.replace("\n", " ") for p in narrator.plaintexts) + "\n",
                                        encoding="utf-8")
    if keep_ui:
        with relay_scope:
            _serve_ui(out / "profiles" / "ukraine-head", passphrase, console)


def _serve_ui(home: Path, passphrase: str, console: Console) -> None:
    """Serve the web UI of Ukraine's head of delegation on the demo data until Ctrl-C; print its URL."""
    from parley.ui.server import serve

    client = Client(Profile.load(home, passphrase))
    console.print("\n[bold]== The web UI of Ukraine's head of delegation[/bold]")
    try:
        serve(client, open_browser=False, announce=lambda line: console.print(line, markup=False, highlight=False,
                                                                              soft_wrap=True))
    finally:
        client.close()


def _enrol(local: LocalRelay, out: Path, passphrase: str, narrator: Narrator) -> tuple[dict[str, Client], dict[str, Client]]:
    narrator.scene("Four delegations enrol, each with a key it alone controls")
    heads: dict[str, Client] = {}
    seconds: dict[str, Client] = {}
    for delegation in DELEGATIONS:
        token = local.relay.store.create_enrol_token(delegation.name, "2025-05-29T00:00:00Z")
        head = Client.create_party(out / "profiles" / f"{delegation.slug}-head", relay_url=local.url,
                                   party_name=delegation.name, member=delegation.head, token=token,
                                   passphrase=passphrase)
        profile = head.add_member(out / "profiles" / f"{delegation.slug}-{delegation.second_role}",
                                  member=delegation.second, role=delegation.second_role, passphrase=passphrase)
        heads[delegation.slug] = head
        seconds[delegation.slug] = Client(profile)
        narrator.say(f"{delegation.name}: root key fingerprint {fingerprint_digits(head.profile.party.root_key)}; "
                     f"members: {delegation.head} (head), {delegation.second} ({delegation.second_role}).")
    return heads, seconds


def _verify_fingerprints(heads: dict[str, Client], narrator: Narrator) -> None:
    narrator.scene("Fingerprints compared out of band")
    for slug, client in heads.items():
        for other_slug, other in heads.items():
            if other_slug == slug:
                continue
            digits = fingerprint_digits(other.profile.party.root_key)  # read aloud over a secure phone line
            client.trust_party(other.profile.party.party_id, digits)
            for member_home in (client.profile.home.parent / f"{slug}-delegate",
                                client.profile.home.parent / f"{slug}-observer"):
                if member_home.exists():
                    pass  # members inherit pins through their own syncs; heads verify for the record
        narrator.say(f"{client.profile.party.name}'s head verified the fingerprints of the three other parties.")


def _open_negotiation(heads: dict[str, Client], narrator: Narrator) -> str:
    narrator.scene("Türkiye convenes the talks behind closed doors")
    host = heads["turkiye"]
    negotiation_id = host.create_negotiation()
    narrator.say(f"Negotiation {negotiation_id} opened by Türkiye.")
    for slug in ("ukraine", "russia", "usa"):
        host.invite(negotiation_id, heads[slug].profile.party.party_id)
        heads[slug].join(negotiation_id)
        narrator.say(f"{heads[slug].profile.party.name} invited and joined.")
    return negotiation_id


def _story_scenes() -> list[Callable[..., None]]:
    return [_scene_messages, _scene_memorandum, _scene_meeting, _scene_channel, _scene_response, _scene_leak,
            _scene_agreement]


def _scene_messages(negotiation_id: str, heads: dict[str, Client], seconds: dict[str, Client],
                    narrator: Narrator, out: Path) -> None:
    narrator.scene("Encrypted messages between the delegations")
    exchanges = [
        ("turkiye", "Welcome to Istanbul. The talks are closed; nothing leaves this room without consent."),
        ("ukraine", "Ukraine's delegation is ready to hand over its memorandum on the key issues."),
        ("russia", "The Russian side will present its own memorandum; we ask that its terms stay confidential."),
    ]
    for slug, text in exchanges:
        posted = heads[slug].send_message(negotiation_id, text)
        narrator.encrypted(text)
        narrator.say(f"[{posted.seq}] {heads[slug].profile.party.name} -> all: \"{text}\"")
    reader = seconds["usa"]
    reader.sync(negotiation_id)
    narrator.say(f"The US observer staff device decrypts {len(reader.messages(negotiation_id))} messages; "
                 "the relay holds only age ciphertext.")


# Ukraine's drafter offers equivalent wordings ({a|b}) throughout: every reader's copy takes its own,
# which is what tells the copies apart when one leaks (docs/tracing.md).
MEMORANDUM = {
    "ceasefire": (
        "Ukraine {proposes|puts forward} a {full|complete} and unconditional ceasefire on land, at sea and in the "
        "air for a period of {at least|no less than} thirty days, {extendable|which may be extended} by agreement "
        "of the parties. The ceasefire is {monitored|observed} by an international mission {agreed with|approved "
        "by} the mediator, which {reports|notifies} every alleged violation within twenty-four hours and "
        "{publishes nothing|makes nothing public} without the consent of both parties. During the ceasefire "
        "neither party {moves|relocates} heavy weapons towards the line of contact, and both parties keep "
        "{open|accessible} the humanitarian corridors {listed|set out} in the annex. {The monitoring mission|The "
        "mission} has {free|unrestricted} access to {every|each} sector of the line of contact, and its "
        "{observers|monitors} {travel|move} without {prior|advance} notice. {Each|Every} party {designates|"
        "appoints} a liaison officer who is {available|reachable} {at all times|around the clock} and who "
        "{answers|responds to} {questions|enquiries} from the mission {within|in no more than} six hours. "
        "{Any|Every} {dispute|disagreement} about a reported violation is {referred|submitted} to the mediator, "
        "whose {findings|conclusions} are {shared with|communicated to} both parties {at the same time|"
        "simultaneously}."),
    "prisoners": (
        "Ukraine {proposes|puts forward} the exchange of all prisoners of war on the principle of all for all, "
        "{beginning|starting} within seven days of the ceasefire and {completed|concluded} within sixty days. "
        "Lists are exchanged through the mediator, who {verifies|checks} identities with the International "
        "Committee of the Red Cross. Civilians detained in connection with the conflict are released on the same "
        "terms, and the remains of the fallen are {repatriated|returned} to their families through an {agreed|"
        "agreed-upon} crossing point. {Each|Every} exchange is {prepared|arranged} by the mediator {together "
        "with|jointly with} both parties, and {no|not a single} prisoner is {moved|transferred} against his or "
        "her will. {Wounded|Injured} and {seriously ill|gravely ill} prisoners are {exchanged|released} {first|"
        "before all others}, {together with|along with} {those|prisoners} held for more than two years. The "
        "Red Cross {visits|has access to} every place of detention {before|ahead of} {each|every} exchange and "
        "{reports|gives its findings} to the mediator {only|alone}."),
    "children": (
        "Ukraine {requires|demands} the return of every child deported or forcibly transferred, with {complete|"
        "full} lists {provided|handed} to the mediator within thirty days. Each child is returned to a parent or "
        "legal guardian, and a joint working group under the mediator's chairmanship {follows|tracks} every case "
        "until the child is home. No adoption or change of citizenship of these children is recognised by "
        "Ukraine. The working group {meets|convenes} {every|each} week, {keeps|maintains} a {single|common} "
        "register of {cases|files}, and {may|can} {ask|request} the help of {international|intergovernmental} "
        "organisations {when|where} a child {cannot|can not} be {found|located}. {Relatives|Family members} "
        "{receive|are given} news of {each|every} case {at least|no less than} once a month, and {no|not a "
        "single} child is {moved|relocated} again {while|whilst} a case is open."),
    "settlement": (
        "Any future settlement respects the sovereignty and territorial integrity of Ukraine within its "
        "internationally recognised borders. Ukraine is {ready|prepared} to {discuss|consider} security "
        "guarantees with the parties and the observers, and to hold a meeting of the leaders once a ceasefire "
        "holds and the humanitarian steps above are {under way|in progress}. {Such|Any such} guarantees {must|"
        "have to} be {binding|legally binding} on those who give them, {and|and they} {must|have to} {take "
        "effect|apply} {before|ahead of} {any|a} {withdrawal|pull-back} of forces. {Economic|Trade} {questions|"
        "matters}, {including|among them} {reconstruction|rebuilding} and {compensation|reparation}, are "
        "{discussed|considered} in a {separate|distinct} {track|strand} {once|after} the {first|initial} "
        "{steps|measures} are {complete|completed}. The terms of any agreement remain confidential until their "
        "signing."),
}

ISSUES = (
    ("ceasefire", "Ceasefire: duration and monitoring"),
    ("prisoners", "Exchange of prisoners of war"),
    ("children", "Return of deported children"),
    ("settlement", "Terms of a future settlement"),
)


def _scene_memorandum(negotiation_id: str, heads: dict[str, Client], seconds: dict[str, Client],
                      narrator: Narrator, out: Path) -> None:
    narrator.scene("Ukraine hands over its memorandum and awaits an official response")
    host = Negotiation(heads["turkiye"], negotiation_id)
    for issue_id, title in ISSUES:
        host.add_issue(title, issue_id)
        narrator.encrypted(title)
    narrator.say("Türkiye puts four key issues on the agenda: " + "; ".join(t for _, t in ISSUES) + ".")
    ukraine = Negotiation(heads["ukraine"], negotiation_id)
    russia_id = heads["russia"].profile.party.party_id
    turkiye_id = heads["turkiye"].profile.party.party_id
    positions = dict(MEMORANDUM)
    restricted = {"ceasefire": "For heads of delegation only: a 20-day ceasefire is acceptable as a first step."}
    draft = ukraine.draft_memorandum("Memorandum of Ukraine (draft)", {k: v + " (draft)" for k, v in positions.items()})
    respond_by = (heads["ukraine"].clock() + timedelta(days=7)).replace(microsecond=0)
    from parley.demo_files import prisoner_list_pdf

    prisoners = prisoner_list_pdf(out / "annex-prisoners.pdf")
    memo = ukraine.deliver_memorandum("Memorandum of Ukraine on the key issues", positions,
                                      to=[russia_id, turkiye_id], restricted=restricted, respond_by=respond_by,
                                      attachments=[prisoners])
    for text in [*positions.values(), *restricted.values(), *(v + " (draft)" for v in positions.values())]:
        narrator.encrypted(text)
    narrator.say(f"Ukraine drafted {draft} inside its own party, then delivered {memo} to the Russian Federation "
                 "and Türkiye, with one section readable only by heads of delegation and a PDF annex (the list "
                 "of prisoners, each reader's copy stamped with its copy line), and asks for an official "
                 f"response by {respond_by:%d %B %Y %H:%M} UTC.")
    russia = Negotiation(heads["russia"], negotiation_id)
    russia.sync()
    narrator.say("The Russian head's client syncs and sends a signed delivery receipt automatically.")
    delegate = Negotiation(seconds["russia"], negotiation_id)
    delegate.sync()
    memo_as_delegate = delegate.views().memoranda[memo]
    narrator.say(f"The Russian delegate reads {len(memo_as_delegate.positions)} positions and "
                 f"{len(memo_as_delegate.restricted)} head-only sections (the head reads "
                 f"{len(russia.views().memoranda[memo].restricted)}).")
    ukraine.sync()
    awaiting = ukraine.status()["awaiting_official_response"]
    for row in awaiting:
        narrator.say(f"status: '{row['title']}' from {row['from']} awaits an official response from "
                     f"{row['awaiting']} since {row['since']} (received: {'yes' if row['received'] else 'no'}).")


def _next_june_2(now: datetime) -> datetime:
    year = now.year if (now.month, now.day) < (6, 2) else now.year + 1
    return datetime(year, 6, 2, 7, 0, tzinfo=UTC)  # 10:00 in Istanbul


def _scene_meeting(negotiation_id: str, heads: dict[str, Client], seconds: dict[str, Client],
                   narrator: Narrator, out: Path) -> None:
    narrator.scene("Moscow proposes a second round in Istanbul on 2 June")
    russia = Negotiation(heads["russia"], negotiation_id)
    start = _next_june_2(heads["russia"].clock())
    answer_by = min(heads["russia"].clock() + timedelta(days=2), start).replace(microsecond=0)
    meeting = russia.propose_meeting(venue="Istanbul, Çırağan Palace", start=start, end=start + timedelta(hours=8),
                                     timezone="Europe/Istanbul", level="delegation",
                                     parties=[heads["ukraine"].profile.party.party_id,
                                              heads["turkiye"].profile.party.party_id],
                                     agenda=["ceasefire", "prisoners"], answer_by=answer_by)
    round_id = russia.open_round(2, meeting_id=meeting, agenda=["ceasefire", "prisoners"])
    narrator.encrypted("Istanbul, Çırağan Palace")
    narrator.say(f"The Russian Federation proposes {meeting}: Istanbul, {start:%d %B %Y} 10:00 (Europe/Istanbul), "
                 f"delegation level, answers by {answer_by:%d %B %H:%M} UTC; it opens {round_id} at that meeting, "
                 "on the ceasefire and the exchange of prisoners.")
    ukraine = Negotiation(heads["ukraine"], negotiation_id)
    ukraine.sync()
    status = russia.status()
    narrator.say(f"status for Moscow: meeting {status['meetings'][0]['status']}; Kyiv has not answered yet.")
    for row in ukraine.status()["deadlines"]:
        narrator.say(f"due for Kyiv: {row['kind']} '{row['title']}' awaited from {row['awaiting']} by {row['due']} "
                     f"({row['state']}).")
    Negotiation(heads["turkiye"], negotiation_id).answer_meeting(meeting, "accept", note="Türkiye will host.")
    ukraine.answer_meeting(meeting, "accept", note="Ukraine's delegation will attend.")
    russia.sync()
    narrator.say(f"Türkiye and then Ukraine accept; status: {russia.status()['meetings'][0]['status']}.")
    (out / "meetings").mkdir(exist_ok=True)
    ics = out / "meetings" / f"{meeting}.ics"
    ics.write_bytes(ukraine.ics(meeting))
    narrator.say(f"The accepted meeting is exported to {ics}.")


def _scene_channel(negotiation_id: str, heads: dict[str, Client], seconds: dict[str, Client],
                   narrator: Narrator, out: Path) -> None:
    narrator.scene("A standing channel between Washington and Moscow")
    usa = Negotiation(heads["usa"], negotiation_id)
    channel = usa.open_channel("Washington-Moscow line", [heads["russia"].profile.party.party_id])
    lines = ["A call between the presidents can be arranged at any time.",
             "Moscow confirms: all channels of communication are open."]
    usa.channel_message(channel, lines[0])
    Negotiation(heads["russia"], negotiation_id).channel_message(channel, lines[1])
    for line in lines:
        narrator.encrypted(line)
    ukraine = Negotiation(heads["ukraine"], negotiation_id)
    ukraine.sync()
    russia_staff = Negotiation(seconds["russia"], negotiation_id)
    russia_staff.sync()
    narrator.say(f"{len(lines)} messages on the channel; the Russian delegate reads "
                 f"{len(russia_staff.views().channels[channel].messages)}, Ukraine's head sees "
                 f"{len(ukraine.views().channels)} channels: the relay cannot tell them apart from any other event.")
    narrator.say(f"Ukraine's copy of the log holds {heads['ukraine'].state(negotiation_id).hidden} events only as "
                 "hidden entries (event id, nonce, audience tags): enough to verify the log, not who wrote them, "
                 "for whom, or what kind of act.")


def _scene_response(negotiation_id: str, heads: dict[str, Client], seconds: dict[str, Client],
                    narrator: Narrator, out: Path) -> None:
    narrator.scene("The official response arrives")
    russia = Negotiation(heads["russia"], negotiation_id)
    memo = next(iter(russia.views().memoranda))
    delegate = Negotiation(seconds["russia"], negotiation_id)
    try:
        delegate.client.post(negotiation_id, "response.official",
                             {"memo_id": memo, "stances": {"prisoners": {"stance": "accept"}}}, authority="head")
    except ParleyError as exc:
        narrator.say(f"A Russian delegate's attempt to respond officially is refused: {exc.message}")
    stances = {
        "prisoners": {"stance": "accept"},
        "children": {"stance": "take-note"},
        "ceasefire": {"stance": "counter", "text": "A ceasefire of 2-3 days in some areas to collect the fallen."},
        "settlement": {"stance": "reserve"},
    }
    russia.respond(memo, stances, "Official response of the Russian Federation to the memorandum of Ukraine.")
    Negotiation(heads["turkiye"], negotiation_id).respond(memo, {"prisoners": {"stance": "accept"}})
    narrator.encrypted(stances["ceasefire"]["text"])
    narrator.encrypted("Official response of the Russian Federation to the memorandum of Ukraine.")
    ukraine = Negotiation(heads["ukraine"], negotiation_id)
    ukraine.sync()
    status = ukraine.status()
    for row in status["positions_matrix"]["issues"]:
        narrator.say(f"  {row['title']}: {row['status'].upper()}")
    narrator.say("Nothing awaits an official response any more." if not status["awaiting_official_response"]
                 else f"{len(status['awaiting_official_response'])} responses still awaited.")
    current = status["current_round"]
    if current is not None:
        outcome = "Exchange of prisoners agreed, all for all; the ceasefire remains open for the next round."
        Negotiation(heads["turkiye"], negotiation_id).close_round(current["round_id"], outcome)
        narrator.encrypted(outcome)
        closed = ukraine.round(current["round_id"])
        narrator.say(f"Türkiye closes round {closed['number']} with its outcome; the round holds "
                     + ", ".join(f"{i['kind']} from {i['party']}" for i in closed["items"]) + ".")


def _scene_leak(negotiation_id: str, heads: dict[str, Client], seconds: dict[str, Client],
                narrator: Narrator, out: Path) -> None:
    from parley.client.pdf import memorandum_pdf
    from parley.tracing.extract import render_pdf_page
    from parley.tracing.simulate import retype

    narrator.scene("Two leaks are traced to the copy they came from")
    leaker = Negotiation(seconds["russia"], negotiation_id)
    leaker.sync()
    memo = next(m for m in leaker.views().memoranda.values() if m.party == heads["ukraine"].profile.party.party_id)
    order = sorted(memo.positions)
    copy_text = "\n\n".join(memo.positions[k] for k in order)
    excerpt = retype(copy_text)
    leaked = out / "leaked-excerpt.txt"
    leaked.write_text(excerpt, encoding="utf-8")
    narrator.say(f"A retyped {len(excerpt.split())}-word excerpt of the memorandum appears in the press "
                 f"({leaked.name}): look-alike letters folded, invisible characters stripped, new line breaks, "
                 "a few typos. Every recipient's copy reads as plain text; they differ only in wording "
                 "('thirty days' or '30 days', 'proposes' or 'puts forward').")
    home = ["--home", str(heads["ukraine"].profile.home), "trace"]
    report = _cli([*home, str(leaked)], os.environ["PARLEY_PASSPHRASE"])
    # the delegate's PDF copy; a screenshot of its first page, cropped above and below the text so the
    # visible copy line is cut off, is read by OCR
    pdf = out / "leaked-copy.pdf"
    memorandum_pdf(pdf, title=memo.title, sections=[(k, memo.positions[k]) for k in order],
                   sender="Ukraine", delivered_at=memo.delivered_at, copy_line=memo.copy)
    page = render_pdf_page(pdf, 0, dpi=150)
    width, height = page.size
    screenshot = out / "leaked-page.png"
    page.crop((0, int(height * 0.09), width, int(height * 0.93))).save(screenshot)
    narrator.say(f"Then a screenshot of page 1 of the delegate's PDF ({screenshot.name}), copy line cropped off, "
                 "is posted online; parley reads it by OCR (Tesseract).")
    ocr_report = _cli([*home, str(screenshot)], os.environ["PARLEY_PASSPHRASE"])
    (out / "trace-report.txt").write_text(f"== {leaked.name}\n{report}\n== {screenshot.name}\n{ocr_report}",
                                          encoding="utf-8")
    for name, text in ((leaked.name, report), (screenshot.name, ocr_report)):
        narrator.say(f"  parley trace {name}:")
        for line in text.splitlines():
            if line.strip():
                narrator.say("    " + line)
        if "ACCUSED: " + seconds["russia"].profile.member not in text:
            raise VerificationError(f"the demo leak {name} was not traced to its source")


AGREEMENT_ARTICLES = [
    {"heading": "Ceasefire", "text": "The parties observe a ceasefire along the entire line of contact for thirty "
                                     "days from the signature of this memorandum."},
    {"heading": "Prisoners of war", "text": "The parties exchange all prisoners of war on the principle of all for "
                                            "all within sixty days, through the mediator."},
    {"heading": "Confidentiality", "text": "This memorandum remains confidential until every party has signed it "
                                           "and consented to its release."},
]
AGREEMENT_TITLE = "Istanbul Memorandum of Understanding"
#: the same memorandum in Ukrainian and Russian: "done in English, Ukrainian and Russian, each text being equally
#: authentic"
AGREEMENT_TRANSLATIONS = {
    "uk": {"title": "Стамбульський меморандум про взаєморозуміння", "articles": [
        {"heading": "Припинення вогню",
         "text": "Сторони дотримуються припинення вогню вздовж усієї лінії зіткнення протягом тридцяти днів "
                 "з дня підписання цього меморандуму."},
        {"heading": "Військовополонені",
         "text": "Сторони обмінюються всіма військовополоненими за принципом «всіх на всіх» протягом шістдесяти "
                 "днів через посередника."},
        {"heading": "Конфіденційність",
         "text": "Цей меморандум залишається конфіденційним, доки кожна зі сторін не підпише його та не дасть "
                 "згоди на його оприлюднення."},
    ]},
    "ru": {"title": "Стамбульский меморандум о взаимопонимании", "articles": [
        {"heading": "Прекращение огня",
         "text": "Стороны соблюдают прекращение огня вдоль всей линии соприкосновения в течение тридцати дней "
                 "с момента подписания настоящего меморандума."},
        {"heading": "Военнопленные",
         "text": "Стороны обмениваются всеми военнопленными по принципу «всех на всех» в течение шестидесяти "
                 "дней через посредника."},
        {"heading": "Конфиденциальность",
         "text": "Настоящий меморандум остаётся конфиденциальным до тех пор, пока каждая из сторон не подпишет "
                 "его и не даст согласия на его обнародование."},
    ]},
}
#: version 1 proposed ten days instead of thirty, in every language
_TEN_DAYS = {"en": ("thirty days", "ten days"), "uk": ("тридцяти днів", "десяти днів"),
             "ru": ("тридцати дней", "десяти дней")}


def _first_version(articles: list[dict[str, str]], language: str) -> list[dict[str, str]]:
    before, after = _TEN_DAYS[language]
    first = [dict(a) for a in articles]
    first[0]["text"] = first[0]["text"].replace(before, after)
    return first


def _scene_agreement(negotiation_id: str, heads: dict[str, Client], seconds: dict[str, Client],
                     narrator: Narrator, out: Path) -> None:
    import shutil as _shutil
    import subprocess

    from parley.client.agreement import AgreementDesk
    from parley.client.bundle import verify_bundle

    narrator.scene("One negotiating text, sealed until every party signs")
    desks = {slug: AgreementDesk(Negotiation(client, negotiation_id)) for slug, client in heads.items()}
    agreement_id = "istanbul-memorandum"
    first = _first_version(AGREEMENT_ARTICLES, "en")
    first_translations = {code: {"title": t["title"], "articles": _first_version(t["articles"], code)}
                          for code, t in AGREEMENT_TRANSLATIONS.items()}
    desks["turkiye"].post_text(agreement_id, AGREEMENT_TITLE, first, language="en",
                               translations=first_translations)
    # Only the superseded wording stays secret for good: the final text is released by consent at the end.
    narrator.encrypted(first[0]["text"])
    for translated in first_translations.values():
        narrator.encrypted(translated["articles"][0]["text"])
    narrator.say("Türkiye, as mediator, posts version 1 of the single negotiating text (3 articles) in English, "
                 "Ukrainian and Russian, each text equally authentic; every recipient's copy is invisibly marked.")
    desks["ukraine"].object(agreement_id, 1, "Ten days is too short to verify a ceasefire.")
    article = desks["turkiye"].summary(agreement_id)["articles"][0]
    narrator.say(f"Ukraine objects to article {article['number']} ({article['heading']}): status "
                 f"{article['status']} by {', '.join(article['objected_by'])}.")
    from parley.demo_files import map_pdf

    annex = map_pdf(out / "annex-1-map.pdf")
    # The exchange list Ukraine attached to its memorandum (scene "memorandum") becomes the agreement's second
    # annex, so both documents of the story are checked in the published bundle.
    prisoners = out / "annex-prisoners.pdf"
    desks["turkiye"].post_text(agreement_id, AGREEMENT_TITLE, AGREEMENT_ARTICLES, language="en",
                               translations=AGREEMENT_TRANSLATIONS, annexes=[annex, prisoners])
    narrator.say(f"Version 2 answers the objection and annexes a map ({annex.name}) and the list of prisoners "
                 f"Ukraine attached to its memorandum ({prisoners.name}); heads will sign the text with each "
                 "annex's name, size and SHA-256. Until finalize each reader's copy of the PDF annexes carries its "
                 "copy line and image mark. Redline of article 1, in English and in Ukrainian:")
    for language in ("en", "uk"):
        for line in desks["turkiye"].redline(agreement_id, 1, 2, language).splitlines()[2:]:
            narrator.say("    " + line)
    digest = desks["turkiye"].finalize(agreement_id)
    narrator.say(f"The mediator finalizes the text: SHA-256 {digest}. Every party receives the canonical text "
                 "and annex files, checked against the digests named before signing.")
    for slug in ("turkiye", "ukraine", "russia"):
        desks[slug].sign(agreement_id)
        narrator.say(f"{heads[slug].profile.party.name}'s head signs (SSHSIG). State: "
                     f"{desks[slug].summary(agreement_id)['state']}.")
    try:
        desks["ukraine"].pdf(agreement_id, out / "too-early.pdf")
    except ParleyError as exc:
        narrator.say(f"An export before the last signature is refused: {exc.message}")
    desks["usa"].sign(agreement_id)
    narrator.say(f"The United States signs as witness. State: {desks['usa'].summary(agreement_id)['state']}.")
    for slug in ("turkiye", "ukraine", "russia", "usa"):
        desks[slug].consent_to_release(agreement_id)
    desks["turkiye"].publish(agreement_id)
    narrator.say(f"Every head consents to release; Türkiye publishes. State: "
                 f"{desks['ukraine'].summary(agreement_id)['state']}.")
    heads["turkiye"].public_statement(negotiation_id, "The parties signed the Istanbul Memorandum of Understanding "
                                      "and agreed to release its text.")
    narrator.say("A joint communiqué is posted in clear for the relay's public page.")
    from parley.client.witness import cosign

    for slug in ("russia", "usa"):  # they have not acted since the publication: they witness it explicitly
        cosign(heads[slug], negotiation_id)
    narrator.say("Russia and the United States cosign the published log (parley witness cosign); Türkiye's "
                 "statement carried its cosignature, and Ukraine's client cosigns as it writes the bundle.")
    archive = desks["ukraine"].bundle(agreement_id, out / "publication")
    narrator.say(f"Publication bundle: {out / 'publication'} and {archive.name}; PDF with the signature block.")
    report = verify_bundle(out / "publication", "all")
    verdict = "VALID" if report["valid"] else "INVALID " + str(report["failures"])
    narrator.say(f"parley verify --require-cosignatures all: {verdict} "
                 f"({len(report['checked'])} items checked offline).")
    if not report["valid"]:
        raise VerificationError("the demo bundle does not verify")
    for annexed in (annex, prisoners):
        if f"annexes/{annexed.name}" not in report["checked"]:
            raise VerificationError(f"the demo bundle's annex {annexed.name} was not checked")
    narrator.say(f"The annexed map and list are in the bundle (annexes/{annex.name}, annexes/{prisoners.name}); "
                 "their SHA-256 and sizes match the Annex lines every head signed.")
    bundle = json.loads((out / "publication" / "bundle.json").read_text())
    if _shutil.which("ssh-keygen") is None:
        narrator.say("ssh-keygen is not installed: skipping the OpenSSH check (install openssh-client).")
        return
    text = (out / "publication" / "agreement.txt").read_bytes()
    for signer in bundle["signers"]:
        command = ["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", signer["principal"],
                   "-n", bundle["namespace"], "-s", signer["signature"]]
        result = subprocess.run(command, cwd=out / "publication", input=text, capture_output=True, check=False)  # noqa: S603 - fixed argv, no shell
        said = (result.stdout or result.stderr).decode().strip()
        narrator.say(f"$ {' '.join(command)} < agreement.txt")
        narrator.say(f"    {said}")
        if result.returncode != 0:
            raise VerificationError(f"ssh-keygen rejected the signature of {signer['party']}")


def _cli(args: list[str], passphrase: str) -> str:
    """Run the CLI as a user would: its own process (``python -m parley``), the passphrase in its
    environment; returns its standard output.

    Raises:
        VerificationError: the command failed.
    """
    import subprocess
    import sys

    import parley

    source = str(Path(parley.__file__).resolve().parent.parent)  # this parley, not another installed one
    env = {**os.environ, "PARLEY_PASSPHRASE": passphrase,
           "PYTHONPATH": os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)}
    command = [sys.executable, "-m", "parley", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)  # noqa: S603 - our own CLI
    if done.returncode != 0:
        raise VerificationError(f"'parley {' '.join(args)}' failed with exit code {done.returncode}: "
                                f"{done.stderr.strip()[-500:]}")
    return done.stdout


def _write_status(out: Path, client: Client, negotiation_id: str, passphrase: str, narrator: Narrator) -> None:
    """The final ``parley status --json``, by the real CLI."""
    narrator.scene("parley status --json")
    text = _cli(["--home", str(client.profile.home), "--json", "status", negotiation_id], passphrase)
    (out / "status.json").write_text(text, encoding="utf-8")
    status = json.loads(text)
    narrator.say(f"Ukraine's head ran 'parley status --json': {status['log_size']} events, "
                 f"{len(status['memoranda'])} memorandum, {len(status['meetings'])} meeting; saved to {out}/status.json.")


def _verify_everyone(negotiation_id: str, clients: list[Client], narrator: Narrator) -> None:
    narrator.scene("Every member verifies the log")
    for client in clients:
        summary = verify_log(client, negotiation_id)
        narrator.say(f"{client.profile.member} ({client.profile.party.name}): {summary['events']} events, "
                     f"root {summary['root'][:16]}..., {summary['result']}.")
    checkpoint = clients[0].cache.checkpoint(negotiation_id)
    if checkpoint is not None:
        narrator.say("Latest signed checkpoint:")
        for line in checkpoint[2].splitlines():
            narrator.say("    " + line)


def _tampered_copy(out: Path, local: LocalRelay, client: Client, negotiation_id: str, narrator: Narrator) -> None:
    narrator.scene("A relay made to rewrite history is caught")
    copy_dir = out / "tampered-relay"
    copy_dir.mkdir()
    source = sqlite3.connect(str(local.config.database))
    target = sqlite3.connect(str(copy_dir / "relay.db"))
    source.backup(target)
    source.close()
    row = target.execute("SELECT seq, header FROM events JOIN negotiations USING (negotiation_no) "
                         "WHERE negotiation_id=? ORDER BY seq LIMIT 1 OFFSET 5",
                         (negotiation_id,)).fetchone()
    header = json.loads(unpack_header(row[1]))
    header["created"] = "2025-06-02T10:00:00Z"  # backdated: still well-formed, no longer what was signed
    rewritten = canonical_bytes(header)
    target.execute("UPDATE events SET header=? WHERE seq=? AND negotiation_no="
                   "(SELECT negotiation_no FROM negotiations WHERE negotiation_id=?)",
                   (rewritten, row[0], negotiation_id))
    target.commit()
    target.close()
    narrator.say(f"A copy of the relay database had event {row[0]} rewritten in place.")
    from parley.relay.app import Relay, create_app
    from parley.store.relay_store import open_store

    bad = Relay(open_store(str(copy_dir / "relay.db")), local.relay.signer, DEMO_RELAY_NAME)
    # The compromised relay process was running when its database was edited: it serves rows as stored.
    bad.ingestor._states[negotiation_id] = local.relay.ingestor.state(negotiation_id)
    transport = InProcessTransport(create_app(bad))
    victim = Client(Profile(client.profile.home, client.profile.member, client.profile.role, client.profile.party,
                            client.profile.relay_url, client.profile.relay_vkey, client.profile.identity,
                            client.profile.trust), transport=transport)
    try:
        verify_log(victim, negotiation_id)
    except (VerificationError, ParleyError) as exc:
        narrator.say(f"{client.profile.member} runs 'parley log verify' against it: DETECTED: {exc.message}")
    else:
        raise VerificationError("the demo's tampered relay was not detected")
    finally:
        victim.close()
        transport.shutdown()
        bad.close()
