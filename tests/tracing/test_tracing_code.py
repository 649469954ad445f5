"""Tardos code: length plan, keyed codewords, threshold, secret storage, visible copy line."""

from __future__ import annotations

import hashlib
import json
import math
import random
import statistics
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.errors import InputError
from parley.tracing import TracingSecret, find_visible_mark, plan_code, visible_mark, with_visible_mark
from parley.tracing.code import (
    LENGTH_CONSTANT,
    DocumentCode,
    reading_false_accusation_bound,
    reading_threshold,
    threshold,
)


def test_code_length_follows_the_documented_formula() -> None:
    for n in (10, 100, 1000):
        params = plan_code(n, 1e-6, 3)
        assert params.length == math.ceil(LENGTH_CONSTANT * 9 * math.log(n / 1e-6))
    assert plan_code(1000).length == 1120
    assert plan_code(1000, max_colluders=1).length < plan_code(1000, max_colluders=2).length


@pytest.mark.parametrize(
    "args",
    [
        (0, 1e-6, 3),
        (True, 1e-6, 3),
        (10, 0.0, 3),
        (10, 1.0, 3),
        (10, 1e-6, 4),
        (10, 1e-6, 0),
        ("10", 1e-6, 3),
    ],
)
def test_bad_code_plans_are_refused(args: tuple) -> None:
    with pytest.raises(InputError):
        plan_code(*args)


def test_codewords_are_keyed_and_follow_the_nuida_biases() -> None:
    params = plan_code(1000)
    digest = hashlib.sha256(b"doc").digest()
    code = DocumentCode(b"k" * 32, params, digest)
    other_key = DocumentCode(b"j" * 32, params, digest)
    assert code.codeword("alice") == DocumentCode(b"k" * 32, params, digest).codeword("alice")
    assert code.codeword("alice") != other_key.codeword("alice")
    assert code.codeword("alice") != code.codeword("bob")
    rare, common = code.class_masks  # p = 54/256 and 202/256
    ones_rare = ones_common = 0
    for k in range(200):
        word = code.codeword(f"r{k}")
        ones_rare += (word & rare).bit_count()
        ones_common += (word & common).bit_count()
    assert abs(ones_rare / (200 * rare.bit_count()) - 54 / 256) < 0.01
    assert abs(ones_common / (200 * common.bit_count()) - 202 / 256) < 0.01
    assert sorted(code.permutation) == list(range(params.length))


def test_threshold_grows_with_symbols_read_and_confidence() -> None:
    biases = plan_code(1000).biases
    assert threshold(0, 1000, 1e-6, biases) == math.inf
    # one symbol can never reach the threshold: the largest single score is sqrt(202/54)
    assert threshold(1, 1000, 1e-6, biases) > math.sqrt(202 / 54)
    z = [threshold(L, 1000, 1e-6, biases) for L in (50, 200, 800)]
    assert z[0] < z[1] < z[2]
    assert threshold(200, 1000, 1e-9, biases) > z[1]
    # Gaussian sanity: at least sqrt(2 ln(n/eps)) standard deviations
    assert z[2] / math.sqrt(800) > math.sqrt(2 * math.log(1e9))


def _random_reading(code: DocumentCode, seed: int, symbols: int) -> tuple[int, int]:
    rng = random.Random(seed)
    positions = rng.sample(range(code.params.length), symbols)
    read_mask = sum(1 << i for i in positions)
    observed = sum(1 << i for i in positions if rng.random() < rng.choice((0.2, 0.5, 0.8)))
    return observed, read_mask


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), symbols=st.integers(1, 1120))
def test_threshold_of_a_reading_is_never_above_the_worst_case_one(seed: int, symbols: int) -> None:
    params = plan_code(1000)
    code = DocumentCode(b"k" * 32, params, hashlib.sha256(b"document").digest())
    scorer = code.scorer(*_random_reading(code, seed, symbols))
    assert reading_threshold(scorer, 1000, 1e-6) <= threshold(symbols, 1000, 1e-6, params.biases) + 1e-9


def test_law_of_an_innocents_score_given_the_reading_is_exact() -> None:
    """The moment generating function the threshold is built on, against 20,000 innocents' scores."""
    params = plan_code(1000)
    code = DocumentCode(b"m" * 32, params, hashlib.sha256(b"moments").digest())
    scorer = code.scorer(*_random_reading(code, 7, 300))
    scores = [scorer.score(code.codeword(f"innocent-{k}")) for k in range(20000)]
    assert abs(statistics.fmean(scores)) < 0.05 * math.sqrt(300)  # mean 0, variance 1 per position
    assert abs(statistics.pvariance(scores) / 300 - 1) < 0.05
    for lam in (0.02, 0.05, 0.1):
        empirical = math.log(statistics.fmean(math.exp(lam * s) for s in scores))
        assert abs(empirical - scorer.log_mgf(lam)) < 0.05 * max(1.0, abs(scorer.log_mgf(lam)))


def test_threshold_of_a_reading_bounds_innocents_at_a_testable_rate() -> None:
    """At a per-innocent rate of 1 %, well within reach of sampling, the bound holds (Chernoff: loosely)."""
    params = plan_code(1000)
    code = DocumentCode(b"r" * 32, params, hashlib.sha256(b"rate").digest())
    scorer = code.scorer(*_random_reading(code, 11, 500))
    z = reading_threshold(scorer, 1, 0.01)
    above = sum(scorer.score(code.codeword(f"innocent-{k}")) >= z for k in range(20000))
    assert above <= 200
    assert reading_false_accusation_bound(scorer, z, 1) == pytest.approx(0.01, rel=1e-3)


def test_tracing_secret_survives_json_without_exposing_the_key_in_repr() -> None:
    secret = TracingSecret.generate(50)
    again = TracingSecret.from_json(secret.to_json())
    assert again == secret
    assert secret.key.hex() not in repr(secret)
    stored = json.loads(secret.to_json())
    stored["code_length"] = 999
    assert TracingSecret.from_json(stored).params.length == 999


@pytest.mark.parametrize(
    "bad",
    ["not json", "[]", '{"format": "other"}', json.dumps({"format": "parley-tracing-secret/1", "key": "!!"})],
)
def test_malformed_tracing_secret_is_refused(bad: str) -> None:
    with pytest.raises(InputError):
        TracingSecret.from_json(bad)


def test_visible_copy_line_names_the_recipient_in_utc() -> None:
    when = datetime(2025, 3, 5, 15, 2, tzinfo=timezone(timedelta(hours=1)))
    line = visible_mark("Alice Martin", "Northwind Ltd", when, 3)
    assert line == "Copy for Alice Martin, Northwind Ltd, 2025-03-05 14:02 UTC, copy no. 3"
    found = find_visible_mark(with_visible_mark("body text", line))
    assert found is not None and found.name == "Alice Martin" and found.copy_no == 3
    assert found.when == datetime(2025, 3, 5, 14, 2, tzinfo=UTC)
    assert find_visible_mark("no line here") is None


@pytest.mark.parametrize(
    "args",
    [
        ("", "P", datetime.now(UTC), 1),
        ("A, B", "P", datetime.now(UTC), 1),
        ("A", "P\nQ", datetime.now(UTC), 1),
        ("A", "P", datetime(2025, 1, 1), 1),  # naive: which zone?  refused
        ("A", "P", datetime.now(UTC), 0),
    ],
)
def test_visible_copy_line_refuses_ambiguous_input(args: tuple) -> None:
    with pytest.raises(InputError):
        visible_mark(*args)
