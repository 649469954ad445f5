"""``parley zopa`` and ``parley witness`` through the command line (in-process clients, no keystore)."""

from __future__ import annotations

import json

import pytest

from cli_runner import run
from parley.cli import witness as witness_cli
from parley.cli import zopa as zopa_cli


@pytest.fixture
def two(world, monkeypatch):
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    from parley.client.workflow import Negotiation

    Negotiation(ukraine, nid).add_issue("Ceasefire line depth (km)", "depth")
    current = {"client": ukraine}
    for module in (zopa_cli, witness_cli):
        monkeypatch.setattr(module, "open_client", lambda _ctx: current["client"])
    return current, ukraine, russia, nid


def test_zopa_through_the_cli(two, monkeypatch):
    current, ukraine, russia, nid = two
    code, out, err = run("--json", "zopa", "open", nid, "--issue", "depth", "--with", "Russian Federation")
    assert code == 0, err
    check = json.loads(out)["check_id"]
    monkeypatch.setenv("PARLEY_ZOPA_VALUE", "15")
    code, out, err = run("--json", "zopa", "commit", nid, check, "--direction", "at-most")
    assert code == 0 and json.loads(out)["waiting_for"] == [russia.profile.party.party_id], err
    current["client"] = russia
    monkeypatch.setenv("PARLEY_ZOPA_VALUE", "10")
    assert run("zopa", "commit", nid, check, "--direction", "at-least")[0] == 0
    current["client"] = ukraine
    code, out, _ = run("zopa", "step", nid, check)
    assert code == 0 and "The ranges meet" in out and "15" not in out.replace(check, "")
    code, out, _ = run("--json", "zopa", "show", nid)
    assert json.loads(out)[0]["status"] == "overlap"
    # a second try on the same issue in the same round: exit 2, nothing posted
    code, out, _ = run("--json", "zopa", "open", nid, "--issue", "depth", "--with", "Russian Federation")
    again = json.loads(out)["check_id"]
    code, _, err = run("zopa", "commit", nid, again, "--direction", "at-most")
    assert code == 2 and "second attempt refused" in err
    # reads cosign nothing: every party cosigns (witness cosign, an act of its own), and the log is final
    current["client"] = russia
    code, out, err = run("--json", "witness", "cosign", nid)
    assert code == 0 and json.loads(out)[0]["cosigned_size"] == russia.cache.checkpoint(nid)[0], err
    current["client"] = ukraine
    code, out, err = run("witness", "cosign")  # every negotiation of the local copy
    assert code == 0 and f"{nid}: cosigned at size" in out, err
    code, out, err = run("witness", "cosign", nid)
    assert code == 0 and "already cosigned" in out, err
    code, out, err = run("--json", "witness", "status", nid, "--require")
    assert code == 0 and json.loads(out)["final"] is True, err


def test_zopa_value_must_be_a_number(two, monkeypatch):
    _, ukraine, _, nid = two
    code, out, _ = run("--json", "zopa", "open", nid, "--issue", "depth", "--with", "Russian Federation")
    monkeypatch.setenv("PARLEY_ZOPA_VALUE", "fifteen")
    code, _, err = run("zopa", "commit", nid, json.loads(out)["check_id"], "--direction", "at-most")
    assert code == 2 and "whole number" in err


def test_witness_require_fails_with_exit_4_until_every_party_cosigned(two):
    _, ukraine, russia, nid = two
    ukraine.send_message(nid, "news")
    code, out, err = run("witness", "status", nid, "--require")
    assert code == 4 and "not final" in out and "requires 2" in err


def test_witness_cosign_of_every_negotiation_tries_each_and_reports_each_failure(two, world, monkeypatch):
    """One negotiation the relay refuses does not leave the others unwitnessed: each is tried and reported,
    and the command exits with the failure's code."""
    from parley.errors import RelayRefusal

    current, ukraine, russia, nid = two
    other = world.negotiation(ukraine, russia)
    real_cosign = witness_cli.cosign

    def refusing(client, negotiation_id, **kwargs):
        if negotiation_id == nid:
            raise RelayRefusal("relay refused the request (409): fork", status=409, relay_code="fork")
        return real_cosign(client, negotiation_id, **kwargs)

    monkeypatch.setattr(witness_cli, "cosign", refusing)
    code, out, err = run("--json", "witness", "cosign")
    rows = {row["negotiation_id"]: row for row in json.loads(out)}
    assert code == RelayRefusal.exit_code and "fork" in err
    assert rows[nid]["error"] == RelayRefusal.code
    assert rows[other]["cosigned_size"] == ukraine.cache.checkpoint(other)[0]
