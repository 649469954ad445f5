"""``parley trace`` on an excerpt of an agreement draft, run in process against the ``world`` relay."""

from __future__ import annotations

import json
import re

import pytest

from cli_runner import run as run_in_process
from parley.cli import agreement as cli_agreement
from parley.cli import audit as cli_audit
from parley.tracing.sample import english_memo_with_alternatives


@pytest.fixture
def cli(world, monkeypatch):  # noqa: ANN001, ANN201
    """``cli(client, *args) -> (exit code, stdout, stderr)``, with ``client`` as the unlocked profile."""
    current = {}
    monkeypatch.setattr(cli_agreement, "open_client", lambda ctx: current["client"])
    monkeypatch.setattr(cli_audit, "open_client", lambda ctx: current["client"])

    def run(client, *args):  # noqa: ANN001, ANN002, ANN202
        current["client"] = client
        code, out, err = run_in_process(*args)
        return code, out, " ".join(err.split())  # joined: the console wraps lines

    return run


def test_trace_names_the_reader_of_a_leaked_draft_excerpt_and_its_version(cli, world, tmp_path) -> None:  # noqa: ANN001
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    texts = [english_memo_with_alternatives(1300, seed=70 + k, share=0.8).replace("\n\n", " ") for k in range(4)]
    for version in (1, 2):
        if version == 2:
            texts[0] += " The parties will meet again in Geneva."
        articles = [arg for k, text in enumerate(texts) for arg in ("--article", f"Heading {k}={text}")]
        code, _, err = cli(ukraine, "agreement", "text", nid, "accord", "--title", "Accord", *articles)
        assert code == 0, err
    shown = json.loads(cli(russia, "--json", "agreement", "show", nid, "accord")[1])
    assert shown["text_sha256"] == json.loads(cli(ukraine, "--json", "agreement", "show", nid, "accord")[1])[
        "text_sha256"]
    leak = tmp_path / "leak.txt"
    leak.write_text(re.sub(r"\s+", " ", " ".join(a["text"] for a in shown["articles"][1:])), encoding="utf-8")
    code, out, err = cli(ukraine, "--json", "trace", str(leak))
    assert code == 0, err
    report = json.loads(out)
    assert (report["agreement_id"], report["version"], report["versions"]) == ("accord", 2, [1, 2])
    assert [m["party"] for m in report["accused_members"]] == ["Russian Federation"]
    code, out, err = cli(ukraine, "trace", str(leak), "--document", "accord")
    assert code == 0, err
    assert "Agreement accord, draft version 2" in out and "ACCUSED" in out


def _accord(seed: int) -> list[str]:
    texts = [english_memo_with_alternatives(2000, seed=seed + k, share=0.8).replace("\n\n", " ") for k in range(6)]
    texts[0] += " {The parties agree|The sides concur} to open the crossing points at dawn."
    return [arg for k, text in enumerate(texts) for arg in ("--article", f"Heading {k}={text}")]


def test_agreement_text_preview_variants_lists_them_and_posts_nothing(cli, world) -> None:  # noqa: ANN001
    ukraine = world.party("Ukraine")
    nid = world.negotiation(ukraine, world.party("Russian Federation"))
    articles = _accord(80)
    code, out, err = cli(ukraine, "--json", "agreement", "text", nid, "accord", "--title", "Accord", *articles,
                         "--preview-variants")
    assert code == 0, err
    lines = json.loads(out)["variants"]
    number = next(int(line.split(".")[0]) for line in lines if "'The sides concur'" in line)
    code, out, err = cli(ukraine, "agreement", "text", nid, "accord", "--title", "Accord", *articles,
                         "--preview-variants", "--no-variant", str(number))
    assert code == 0, err
    assert f"{number}. author" in out and "(vetoed)" in out and "posted" not in out
    assert json.loads(cli(ukraine, "--json", "agreement", "list", nid)[1]) == []


def test_trace_of_a_normalised_draft_leak_with_a_vetoed_variant_reports_the_note(cli, world, tmp_path) -> None:  # noqa: ANN001
    from parley.tracing import TracedText
    from parley.tracing.simulate import normalise_wording

    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    articles = _accord(90)
    lines = json.loads(cli(ukraine, "--json", "agreement", "text", nid, "accord", "--title", "Accord", *articles,
                           "--preview-variants")[1])["variants"]
    number = next(int(line.split(".")[0]) for line in lines if "'The sides concur'" in line)
    code, out, err = cli(ukraine, "agreement", "text", nid, "accord", "--title", "Accord", *articles,
                         "--no-variant", str(number))
    assert code == 0 and "Version 1 posted." in out, err
    shown = json.loads(cli(russia, "--json", "agreement", "show", nid, "accord")[1])
    assert "The sides concur" not in shown["articles"][0]["text"]
    leaked = " ".join(a["text"] for a in shown["articles"])
    leak = tmp_path / "leak.txt"
    # every automatic variant turned into one form: the report says so, and the author's wording still convicts
    leak.write_text(normalise_wording(leaked, TracedText(leaked)), encoding="utf-8")
    code, out, err = cli(ukraine, "--json", "trace", str(leak))
    assert code == 0, err
    report = json.loads(out)
    assert [m["party"] for m in report["accused_members"]] == ["Russian Federation"]
    assert any(note.startswith("wording normalised: all") for note in report["tampering"])
    code, out, err = cli(ukraine, "trace", str(leak))
    assert code == 0 and "wording normalised" in out, err
