import bisect
import math
import tracemalloc

import numpy as np
import pytest
import torch
from scipy.special import entr, logsumexp

from seqlib import baselines
from seqlib.baselines import (BitFrequencies, Chance, Markov, MostCommon, Unigram, fit_baselines, fit_byte_baselines, mean_nll_bits,
                              select_markov_order)
from seqlib.errors import ConfigError, DataError
from seqlib.metrics import Metrics


def markov2_stream(k: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An order-2 Markov stream over k symbols and its table T[a, b, c] = P(x_t=c | x_{t-2}=a, x_{t-1}=b)."""
    rng = np.random.default_rng(seed)
    table = rng.dirichlet(np.full(k, 0.3), size=(k, k))
    cdf, u = np.cumsum(table, -1).tolist(), rng.random(n).tolist()
    x = [0, 0]
    for t in range(2, n):
        x.append(min(bisect.bisect(cdf[x[-2]][x[-1]], u[t]), k - 1))
    return np.array(x), table


def entropy_rate_bits(table: np.ndarray) -> float:
    """Entropy rate of an order-2 chain: conditional entropies weighted by the stationary pair distribution."""
    k = len(table)
    pairs = np.zeros((k * k, k * k))
    for a in range(k):
        for b in range(k):
            pairs[a * k + b, b * k:(b + 1) * k] = table[a, b]
    vals, vecs = np.linalg.eig(pairs.T)
    pi = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    pi /= pi.sum()
    return float((pi.reshape(k, k) * entr(table).sum(-1)).sum() / math.log(2))


@pytest.fixture(scope="module")
def order2():
    tokens, table = markov2_stream(6, 300_000, seed=7)
    return tokens, entropy_rate_bits(table)


def score(baselines: list, tokens: np.ndarray, positions: np.ndarray, vocab_size: int) -> dict:
    """Feed one baseline per head through Metrics, as the evaluator does (head h's target is tokens[p + h - 1])."""
    m = Metrics(vocab_size, heads=len(baselines))
    logp = np.stack([b.log_probs(tokens, positions + h) for h, b in enumerate(baselines)], 1)
    targets = np.stack([tokens[positions + h] for h in range(len(baselines))], 1)
    m.update(torch.from_numpy(logp), torch.from_numpy(targets))
    return m.result()


def test_chance_cross_entropy_is_exactly_log2_n_values():
    tokens = np.random.default_rng(0).integers(0, 6, 5000)
    chance = Chance(6, 7)  # 6 data tokens + UNK
    positions = np.arange(100, 5000)
    logp = chance.log_probs(tokens, positions)
    assert logp.shape == (4900, 7) and logsumexp(logp, axis=1) == pytest.approx(0.0, abs=1e-12)
    assert mean_nll_bits(chance, tokens, positions) == pytest.approx(math.log2(6), abs=1e-12)
    r = score([chance], tokens, positions, 7)["overall"]
    assert r["ce_bits"] == pytest.approx(math.log2(6), rel=1e-6)
    assert r["top1"] == pytest.approx(1 / 6) and r["top5"] == pytest.approx(5 / 6)


def test_most_common_top1_is_the_frequency_of_the_training_mode():
    rng = np.random.default_rng(1)
    weights = np.array([0.1, 0.15, 0.4, 0.2, 0.15])
    train, val = rng.choice(5, 20_000, p=weights), rng.choice(5, 20_000, p=weights)
    most = MostCommon(train, 5)
    assert most.token == 2
    assert math.exp(most.log_probs(val, [0])[0, 2]) == pytest.approx(np.mean(train == 2))
    r = score([most], val, np.arange(len(val)), 5)["overall"]
    assert r["top1"] == pytest.approx(np.mean(val == 2), abs=1e-12)


def test_unigram_cross_entropy_matches_a_biased_die_entropy():
    rng = np.random.default_rng(2)
    weights = rng.dirichlet(np.ones(12))
    train, val = rng.choice(12, 200_000, p=weights), rng.choice(12, 200_000, p=weights)
    ce = mean_nll_bits(Unigram(train, 12), val, np.arange(len(val)))
    assert ce == pytest.approx(entr(weights).sum() / math.log(2), abs=0.01)


def test_markov2_reaches_the_entropy_rate_and_markov1_is_clearly_worse(order2):
    tokens, rate = order2
    train, val = tokens[:200_000], tokens[200_000:]
    positions = np.arange(2, len(val))
    ce2 = mean_nll_bits(Markov(train, 6, order=2), val, positions)
    ce1 = mean_nll_bits(Markov(train, 6, order=1), val, positions)
    assert ce2 == pytest.approx(rate, abs=0.02)
    assert ce1 > rate + 0.1


def test_markov_ahead_2_uses_the_token_two_steps_back():
    # two interleaved independent chains: x_t follows x_{t-2} (+1 mod 8 w.p. 0.9) and is independent of x_{t-1}
    rng = np.random.default_rng(3)
    steps = np.where(rng.random((2, 50_000)) < 0.9, 1, rng.integers(0, 8, (2, 50_000)))
    tokens = (np.cumsum(steps, axis=1) % 8).T.flatten()
    train, val = tokens[:80_000], tokens[80_000:]
    positions = np.arange(2, len(val))
    unigram = mean_nll_bits(Unigram(train, 8), val, positions)
    ahead1 = mean_nll_bits(Markov(train, 8, order=1, ahead=1), val, positions)
    ahead2 = mean_nll_bits(Markov(train, 8, order=1, ahead=2), val, positions)
    assert unigram == pytest.approx(3.0, abs=0.01)
    assert ahead1 == pytest.approx(unigram, abs=0.01)
    assert ahead2 < unigram - 2.0


def test_markov_unseen_context_falls_back_to_unigram_and_seen_context_uses_counts():
    train = np.tile([0, 1, 2, 3], 100)  # token 4 never occurs, 0 is always followed by 1
    markov, unigram = Markov(train, 5, order=1, alpha=0.5), Unigram(train, 5, alpha=1.0)
    query = np.array([4, 0, 1])
    logp = markov.log_probs(query, np.array([0, 1, 2]))
    np.testing.assert_allclose(logp[:2], unigram.log_probs(query, [0, 1]), rtol=1e-12)  # no context, unseen 4
    prior = 0.5 * 5 * np.exp(unigram.logp)
    expected = prior / 102.5
    expected[1] += 100 / 102.5
    np.testing.assert_allclose(np.exp(logp[2]), expected, rtol=1e-12)


def test_markov_order3_over_256_tokens_fits_and_scores_in_small_memory():
    tokens = np.random.default_rng(4).integers(0, 256, 300_000)
    tracemalloc.start()
    markov = Markov(tokens, 256, order=3)
    logp = markov.log_probs(tokens, np.arange(1000, 3048))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2 ** 20  # a dense 2^24 x 256 count table would need 32 GiB
    assert logp.shape == (2048, 256) and logsumexp(logp, axis=1) == pytest.approx(0.0, abs=1e-9)
    seen = logp[np.arange(2048), tokens[1000:3048]]
    assert np.all(seen > Unigram(tokens, 256).logp[tokens[1000:3048]])  # each training context saw its next token


@pytest.mark.parametrize("table_max", [baselines.TABLE_MAX, 0])  # counted in a dense array, or sorted
def test_markov_counts_in_chunks_equal_counts_in_one_pass(monkeypatch, order2, table_max):
    monkeypatch.setattr(baselines, "TABLE_MAX", table_max)
    tokens = order2[0][:50_000]
    one = Markov(tokens, 6, order=3, ahead=2)
    monkeypatch.setattr(baselines, "COUNT_CHUNK", 4096)
    chunked = Markov(tokens, 6, order=3, ahead=2)
    for key in ("contexts", "starts", "next_tokens", "counts", "totals"):
        np.testing.assert_array_equal(getattr(one, key), getattr(chunked, key))


def test_markov_refuses_orders_that_overflow_64_bit_context_ids():
    with pytest.raises(ConfigError, match="overflows"):
        Markov(np.zeros(10, dtype=np.int64), 65536, order=3)


def test_baselines_refuse_tokens_outside_the_vocabulary():
    with pytest.raises(DataError, match="outside"):
        Unigram(np.array([0, 1, 9]), 5)


def test_every_baseline_gives_normalised_log_probs(order2):
    tokens = order2[0][:20_000]
    positions = np.arange(0, 20_000, 7)
    for name, per_head in fit_baselines(tokens, 7, 6, heads_ahead=2).items():
        for h, baseline in enumerate(per_head, start=1):
            logp = baseline.log_probs(tokens, positions, ahead=h)
            assert logp.shape == (len(positions), 7), name
            assert logsumexp(logp, axis=1) == pytest.approx(0.0, abs=1e-9), name


def test_fit_baselines_gives_one_baseline_per_head_under_fixed_names(order2):
    fitted = fit_baselines(order2[0][:20_000], 6, 6, heads_ahead=3, orders=(1, 2))
    assert list(fitted) == ["chance", "most common", "unigram", "markov-1", "markov-2"]
    assert all(len(per_head) == 3 and all(b.name == name for b in per_head) for name, per_head in fitted.items())
    assert [b.ahead for b in fitted["markov-2"]] == [1, 2, 3]
    with pytest.raises(ConfigError, match="fitted 2 ahead"):
        fitted["markov-1"][1].log_probs(order2[0], np.arange(10, 20), ahead=1)


def test_per_head_markov_is_scored_through_metrics_with_heads_apart(order2):
    tokens = order2[0]
    fitted = fit_baselines(tokens[:200_000], 6, 6, heads_ahead=2, orders=(2,))
    positions = np.arange(2, 50_000)
    h1, h2 = score(fitted["markov-2"], tokens[200_000:], positions, 6)["heads"]
    unigram = mean_nll_bits(fitted["unigram"][0], tokens[200_000:], positions)
    assert h1["ce_bits"] == pytest.approx(order2[1], abs=0.02)
    assert h1["ce_bits"] + 0.3 < h2["ce_bits"] < unigram - 0.3  # two ahead: less known, still far from unigram


def test_select_markov_order_finds_the_true_order(order2):
    tokens = order2[0]
    assert select_markov_order(tokens[:30_000], tokens[30_000:60_000], 6, orders=(1, 2, 3)) == 2


def test_byte_unigram_is_the_add_one_unigram_over_65536_values():
    rng = np.random.default_rng(0)
    train = rng.choice(rng.integers(0, 65536, 300), 5000)
    test = np.concatenate([train[:50], rng.integers(0, 65536, 50)])
    unigram = fit_byte_baselines(train)["unigram"]
    logp = unigram.predict_at(test, [np.arange(len(test))]).log_prob(torch.as_tensor(test)[:, None])[:, 0]
    counts = np.bincount(train, minlength=65536)
    np.testing.assert_allclose(logp.numpy(), np.log((counts[test] + 1) / (len(train) + 65536)), rtol=1e-5)


def test_bit_frequencies_give_each_byte_the_product_of_its_bits_add_one_frequencies():
    b = BitFrequencies(np.array([0b1, 0b11, 0b1, 0]))  # bit 0: 3 of 4 ones, bit 1: 1 of 4, the others none
    p1 = np.array([4 / 6, 2 / 6] + [1 / 6] * 6)
    np.testing.assert_allclose(b.p1, p1)
    assert b.logp[0b01] == pytest.approx(math.log(4 / 6) + math.log(4 / 6) + 6 * math.log(5 / 6))
    assert np.exp(b.logp).sum() == pytest.approx(1.0)


def test_bit_frequencies_see_a_small_bias_of_every_bit_that_the_value_unigram_cannot_learn():
    rng = np.random.default_rng(5)
    bits = rng.random((60_000, 16)) < 0.55  # 15.885 bits/value
    values = (bits << np.arange(16)).sum(1)
    fitted = fit_byte_baselines(values[:50_000], orders=(1,))
    positions = [np.arange(50_000, 60_000)]
    bits_per_value = {}
    for name in ("bit frequencies", "unigram"):
        m = Metrics(65536, heads=1)
        m.update(fitted[name].predict_at(values, positions), torch.as_tensor(values[positions[0]])[:, None])
        bits_per_value[name] = m.result()["heads"][0]["ce_bits"]
    assert bits_per_value["bit frequencies"] == pytest.approx(16 * 0.99277, abs=0.01)
    assert bits_per_value["unigram"] > 16.0  # 65,535 parameters from 50,000 values: worse than chance


def test_byte_chance_is_16_bits_and_high_byte_markov_follows_the_high_byte():
    high, _ = markov2_stream(16, 30_000, seed=4)
    values = high * 256 + np.random.default_rng(1).integers(0, 256, len(high))  # structure in the high byte only
    fitted = fit_byte_baselines(values[:20_000], heads_ahead=2, orders=(1, 2))
    assert list(fitted) == ["chance", "bit frequencies", "unigram", "high-byte markov-1", "high-byte markov-2"]
    positions = [np.arange(20_010, 30_000), np.arange(20_010, 30_000)]
    bits = {}
    for name, b in fitted.items():
        m = Metrics(65536, heads=2)
        m.update(b.predict_at(values, positions), torch.as_tensor(np.stack([values[p] for p in positions], 1)))
        bits[name] = m.result()["heads"][0]["ce_bits"]
    assert bits["chance"] == pytest.approx(16.0, abs=1e-4)
    assert bits["high-byte markov-2"] < bits["high-byte markov-1"] < bits["unigram"] - 0.3


@pytest.mark.parametrize("order", [1, 2])
def test_markov_dense_table_gives_the_sparse_counts_log_probabilities(monkeypatch, order):
    rng = np.random.default_rng(3)
    train, tokens = rng.integers(0, 7, 5000) ** 2 % 11, rng.integers(0, 11, 400)  # unseen contexts and classes too
    dense = Markov(train, 12, order)
    monkeypatch.setattr(baselines, "TABLE_MAX", 0)
    sparse = Markov(train, 12, order)
    assert dense.table is not None and sparse.table is None
    positions = np.arange(400)
    np.testing.assert_allclose(dense.log_probs(tokens, positions), sparse.log_probs(tokens, positions), rtol=0,
                               atol=1e-12)
    np.testing.assert_allclose(np.exp(dense.log_probs(tokens, positions)).sum(-1), 1.0)
