import json
import math

import pytest
import torch

from seqlib import metrics
from seqlib.errors import SeqlibError
from seqlib.metrics import Metrics
from seqlib.prediction import BytePrediction, DensePrediction, FixedPrediction

# three predictions over V=4 (no value on a bin edge): right at 0.72, target 3rd at 0.15, target last at 0.10
PROBS = torch.tensor([[0.72, 0.08, 0.10, 0.10], [0.55, 0.25, 0.15, 0.05], [0.10, 0.15, 0.30, 0.45]])
TARGETS = torch.tensor([0, 2, 0])


def hand_made(**kwargs) -> dict:
    m = Metrics(4, bins=10, **kwargs)
    logits = PROBS.log() + torch.tensor([[3.0], [-1.0], [7.0]])  # a shift per row must not matter
    m.update(logits.unsqueeze(1), TARGETS.unsqueeze(1))
    return m.result()


def entropy_bits(p: torch.Tensor) -> float:
    return -sum(float(q) * math.log2(float(q)) for q in p)


def assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    else:
        assert a == b


def random_batch(n: int, heads: int, vocab: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, heads, vocab, generator=g) * 2, torch.randint(0, vocab, (n, heads), generator=g)


def test_hand_made_logits_give_exact_accuracy_and_cross_entropy():
    r = hand_made()["heads"][0]
    assert r["head"] == 1 and r["count"] == 3
    assert r["top1"] == pytest.approx(1 / 3)
    assert r["top3"] == pytest.approx(2 / 3)
    assert r["top5"] == 1.0  # k > V: every prediction is a hit
    ce_bits = -(math.log2(0.72) + math.log2(0.15) + math.log2(0.10)) / 3
    assert r["ce_bits"] == pytest.approx(ce_bits, rel=1e-6)
    assert r["ce_nats"] == pytest.approx(ce_bits * math.log(2), rel=1e-6)
    assert r["perplexity"] == pytest.approx(2 ** ce_bits, rel=1e-6)
    assert r["confidence_mean"] == pytest.approx((0.72 + 0.55 + 0.45) / 3, rel=1e-6)
    assert r["entropy_bits_mean"] == pytest.approx(sum(entropy_bits(p) for p in PROBS) / 3, rel=1e-6)


def test_hand_made_logits_give_exact_ece_reliability_and_histograms():
    r = hand_made()["overall"]
    assert r["ece"] == pytest.approx((abs(1 - 0.72) + abs(0 - 0.55) + abs(0 - 0.45)) / 3, rel=1e-6)
    rel = r["reliability"]
    assert rel["lo"][7] == pytest.approx(0.7) and rel["hi"][7] == pytest.approx(0.8)
    assert rel["count"] == [0, 0, 0, 0, 1, 1, 0, 1, 0, 0]
    assert rel["confidence"][4] == pytest.approx(0.45) and rel["confidence"][7] == pytest.approx(0.72)
    assert rel["accuracy"][4] == 0.0 and rel["accuracy"][5] == 0.0 and rel["accuracy"][7] == 1.0
    assert rel["confidence"][0] is None and rel["accuracy"][0] is None
    assert r["confidence_hist"]["correct"] == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert r["confidence_hist"]["wrong"] == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]
    hist = r["entropy_hist"]
    assert hist["edges"][0] == 0.0 and hist["edges"][-1] == pytest.approx(2.0)  # log2(V)
    expected = [[0] * 10, [0] * 10]
    for p, right in zip(PROBS, (True, False, False)):
        expected[0 if right else 1][int(entropy_bits(p) / 2 * 10)] += 1
    assert [hist["correct"], hist["wrong"]] == expected


@pytest.mark.parametrize("caller_chunk, internal_chunk", [(37, metrics.CHUNK_ELEMENTS), (600, 50)])
def test_streaming_in_chunks_equals_one_shot(monkeypatch, caller_chunk, internal_chunk):
    logits, targets = random_batch(600, 2, 7, seed=0)
    positions = torch.arange(600) + 1000
    one = Metrics(7, heads=2, n_worst=5)
    one.update(logits, targets, positions)
    monkeypatch.setattr(metrics, "CHUNK_ELEMENTS", internal_chunk)
    chunked = Metrics(7, heads=2, n_worst=5)
    for s in range(0, 600, caller_chunk):
        chunked.update(logits[s:s + caller_chunk], targets[s:s + caller_chunk], positions[s:s + caller_chunk])
    assert_same(one.result(), chunked.result())


def test_heads_are_scored_separately_and_pooled_in_overall():
    n, V = 40, 5
    targets = torch.randint(0, V, (n,), generator=torch.Generator().manual_seed(1))
    logits = torch.zeros(n, 2, V)
    logits[torch.arange(n), 0, targets] = 4.0  # head 1 always right
    logits[torch.arange(n), 1, (targets + 1) % V] = 4.0  # head 2 always wrong
    m = Metrics(V, heads=2)
    m.update(logits, torch.stack([targets, targets], 1))
    r = m.result()
    h1, h2, overall = r["heads"][0], r["heads"][1], r["overall"]
    assert r["count"] == n and (h1["count"], h2["count"], overall["count"]) == (n, n, 2 * n)
    assert (h1["head"], h2["head"], overall["head"]) == (1, 2, "all")
    assert (h1["top1"], h2["top1"], overall["top1"]) == (1.0, 0.0, 0.5)
    p_right = math.exp(4) / (math.exp(4) + V - 1)
    assert h1["ce_bits"] == pytest.approx(-math.log2(p_right), rel=1e-5)
    assert h2["ce_bits"] == pytest.approx(-math.log2((1 - p_right) / (V - 1)), rel=1e-5)
    assert overall["ce_bits"] == pytest.approx((h1["ce_bits"] + h2["ce_bits"]) / 2, rel=1e-9)
    assert h1["worst"] == [] and {w["head"] for w in h2["worst"]} == {2}
    assert {w["head"] for w in overall["worst"]} == {2}


def test_confusion_matrix_counts_targets_by_predicted_class():
    targets = torch.tensor([0, 0, 1, 2, 2, 2])
    predicted = torch.tensor([0, 1, 1, 2, 0, 2])
    m = Metrics(3)
    m.update((torch.nn.functional.one_hot(predicted, 3) * 5.0).unsqueeze(1), targets.unsqueeze(1))
    assert m.result()["heads"][0]["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_confusion_matrix_is_none_above_64_classes():
    m = Metrics(65)
    m.update(*random_batch(10, 1, 65, seed=2))
    assert m.result()["overall"]["confusion"] is None


def test_worst_keeps_the_most_confident_wrong_predictions_across_updates():
    V = 4
    # (confidence of the predicted class 0, target) at running positions 0..6
    cases = [(0.90, 0), (0.80, 1), (0.50, 2), (0.95, 3), (0.70, 1), (0.99, 0), (0.85, 2)]
    m = Metrics(V, n_worst=3)
    for chunk in (cases[:2], cases[2:5], cases[5:]):
        probs = torch.tensor([[c] + [(1 - c) / (V - 1)] * (V - 1) for c, _ in chunk])
        m.update(probs.log().unsqueeze(1), torch.tensor([[t] for _, t in chunk]))
    worst = m.result()["overall"]["worst"]
    assert [w["position"] for w in worst] == [3, 6, 1]
    assert [w["confidence"] for w in worst] == pytest.approx([0.95, 0.85, 0.80])
    assert [w["target"] for w in worst] == [3, 2, 1]
    assert all(w["predicted"] == 0 and w["head"] == 1 for w in worst)


def test_ties_count_as_fractional_hits_so_uniform_scores_k_over_v():
    V = 8
    m = Metrics(V)
    m.update(torch.zeros(50, 1, V), torch.randint(0, V, (50, 1), generator=torch.Generator().manual_seed(3)))
    r = m.result()["overall"]
    assert (r["top1"], r["top3"], r["top5"]) == pytest.approx((1 / 8, 3 / 8, 5 / 8))
    assert r["ce_bits"] == pytest.approx(3.0, rel=1e-6) and r["entropy_bits_mean"] == pytest.approx(3.0, rel=1e-6)
    assert r["ece"] == pytest.approx(0.0, abs=1e-6)
    assert r["worst"] == []


def test_empty_accumulator_raises_instead_of_reporting_nan():
    with pytest.raises(SeqlibError, match="update"):
        Metrics(4).result()


def test_bad_shapes_and_mask_targets_are_refused():
    m = Metrics(4, heads=2)
    with pytest.raises(SeqlibError, match="expects logits"):
        m.update(torch.zeros(3, 2, 5), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(SeqlibError, match="MASK"):
        m.update(torch.zeros(3, 2, 4), torch.full((3, 2), 4))


def test_result_is_plain_json():
    m = Metrics(6, heads=2)
    m.update(*random_batch(100, 2, 6, seed=4))
    r = m.result()
    assert json.loads(json.dumps(r, allow_nan=False)) == r


def test_summary_table_has_one_row_per_head_and_all():
    m = Metrics(10, heads=3)
    m.update(*random_batch(200, 3, 10, seed=5))
    table, r = m.summary_table(), m.result()
    assert list(table.index) == [1, 2, 3, "all"]
    assert list(table.columns) == ["count", "top1", "top3", "top5", "ce_bits", "perplexity", "confidence_mean",
                                   "entropy_bits_mean", "ece"]
    assert table.loc[2, "ce_bits"] == r["heads"][1]["ce_bits"]
    assert table.loc["all", "count"] == 600 and table.loc["all", "top1"] == r["overall"]["top1"]


# --- 16-bit values predicted as bytes (BytePrediction) ---

def byte_factors(high_probs: torch.Tensor, low_probs: torch.Tensor, width: int = 8) -> BytePrediction:
    """A BytePrediction from P(high) (N, H, 256) and a table P(low | high) (N, H, 256, 256) of each row."""
    low_logp = low_probs.log()

    def low(high_bytes, rows):
        table = low_logp[rows]
        return table.gather(2, high_bytes[..., None].expand(*high_bytes.shape, 256))

    return BytePrediction(high_probs.log(), low, width=width)


def random_byte_factors(n: int, heads: int, seed: int) -> tuple[BytePrediction, torch.Tensor, torch.Tensor]:
    """Random peaked factors, their materialised joint log-probs (n, heads, 65536) and targets drawn from them."""
    g = torch.Generator().manual_seed(seed)
    high = (torch.randn(n, heads, 256, generator=g) * 3).softmax(-1)
    low = (torch.randn(n, heads, 256, 256, generator=g) * 3).softmax(-1)
    joint = (high[..., None] * low).reshape(n, heads, 65536)
    targets = torch.multinomial(joint.reshape(-1, 65536), 1, generator=g).view(n, heads)
    return byte_factors(high, low), joint.log(), targets


def test_value_cross_entropy_is_the_sum_of_the_byte_parts_on_hand_made_logits():
    high = torch.full((2, 1, 256), 0.5 / 254)
    high[0, 0, :2] = torch.tensor([0.3, 0.2])
    high[1, 0, :2] = torch.tensor([0.1, 0.4])
    low = torch.full((2, 1, 256, 256), 0.5 / 254)
    low[0, 0, :, 7:9] = 0.25
    low[1, 0, :, 200:202] = torch.tensor([0.3, 0.2])
    targets = torch.tensor([[1 * 256 + 8], [0 * 256 + 200]])  # p = 0.2 * 0.25 and 0.1 * 0.3
    m = Metrics(65536)
    logp, _ = m.update(byte_factors(high, low), targets)
    r = m.result()["heads"][0]
    assert r["ce_bits"] == pytest.approx(-(math.log2(0.2 * 0.25) + math.log2(0.1 * 0.3)) / 2, rel=1e-6)
    assert r["first_byte"]["ce_bits"] == pytest.approx(-(math.log2(0.2) + math.log2(0.1)) / 2, rel=1e-6)
    assert r["second_byte"]["ce_bits"] == pytest.approx(-(math.log2(0.25) + math.log2(0.3)) / 2, rel=1e-6)
    assert r["ce_bits"] == pytest.approx(r["first_byte"]["ce_bits"] + r["second_byte"]["ce_bits"], rel=1e-6)
    assert torch.allclose(logp[:, 0], torch.tensor([0.2 * 0.25, 0.1 * 0.3], dtype=torch.float64).log())


def test_value_metrics_equal_dense_metrics_when_every_high_byte_is_enumerated():
    factors, joint, targets = random_byte_factors(40, 2, seed=1)
    dense, values = Metrics(65536, heads=2, n_worst=5), Metrics(65536, heads=2, n_worst=5)
    factors = factors.with_width(256)
    dense.update(joint, targets)
    values.update(factors[:15], targets[:15])
    values.update(factors[15:], targets[15:], torch.arange(15, 40))
    d, v = dense.result(), values.result()
    for key in ["count", "top1", "top3", "top5", "ce_bits", "confidence_mean", "entropy_bits_mean", "ece"]:
        assert v["overall"][key] == pytest.approx(d["overall"][key], rel=1e-4, abs=1e-6), key
    assert v["overall"]["reliability"]["count"] == d["overall"]["reliability"]["count"]
    assert [(w["position"], w["predicted"], w["target"]) for w in v["heads"][0]["worst"]] == \
           [(w["position"], w["predicted"], w["target"]) for w in d["heads"][0]["worst"]]
    assert v["overall"]["enumeration"] == {"width": 256, "top_k": 5, "exact_share": 1.0}
    assert v["overall"]["confusion"] is None


def test_narrow_enumeration_says_how_often_its_top_k_is_provably_exact():
    factors, joint, targets = random_byte_factors(60, 1, seed=2)
    m = Metrics(65536)
    m.update(factors.with_width(2), targets)
    r = m.result()["heads"][0]
    exact = r["enumeration"]["exact_share"]
    true_top5 = joint.topk(5, -1).values[..., -1]
    left_out = factors.first.topk(3, -1).values[..., -1]  # the best high byte outside a width-2 list
    assert 0 < exact < 1
    assert exact <= (true_top5 >= left_out).double().mean().item() + 1e-9
    dense = Metrics(65536)
    dense.update(joint, targets)
    assert r["top1"] <= dense.result()["heads"][0]["top1"] + 1e-9


def test_greedy_decoding_and_the_most_probable_value_are_scored_apart():
    high = torch.full((1, 1, 256), 0.1 / 254)
    high[0, 0, :2] = torch.tensor([0.5, 0.4])
    low = torch.full((1, 1, 256, 256), 1 / 256)  # high byte 0: flat low byte, so its best value has p = 0.5 / 256
    low[0, 0, 1] = 0.1 / 255
    low[0, 0, 1, 9] = 0.9  # high byte 1, low byte 9: p = 0.36, the most probable value
    m = Metrics(65536)
    m.update(byte_factors(high, low), torch.tensor([[256 + 9]]))
    r = m.result()["heads"][0]
    assert r["top1"] == 1.0 and r["top1_greedy"] == 0.0
    assert r["confidence_mean"] == pytest.approx(0.4 * 0.9, rel=1e-5)


def test_byte_split_round_trips_every_16_bit_value():
    values = torch.arange(65536)
    high = torch.full((65536, 1, 256), -30.0)
    high[values, 0, values // 256] = 0.0

    def low(high_bytes, rows):  # peaked on the row's true low byte whatever the high byte
        out = torch.full((*high_bytes.shape, 256), -30.0)
        out[torch.arange(len(high_bytes)), :, :, values[rows] % 256] = 0.0
        return out

    factors = BytePrediction(high, low, width=1)
    top, logp = factors.top(1)
    assert torch.equal(top[:, 0, 0], values)
    assert torch.allclose(factors.log_prob(values[:, None])[:, 0], logp[:, 0, 0])
    assert torch.equal(factors[1000:1010].top(1)[0][:, 0, 0], values[1000:1010])


def test_value_metrics_refuse_targets_outside_16_bits():
    factors, _, _ = random_byte_factors(2, 1, seed=3)
    with pytest.raises(SeqlibError, match="16-bit values"):
        Metrics(65536).update(factors, torch.tensor([[5], [70000]]))


def test_a_fixed_prediction_scores_exactly_as_the_same_rows_dense():
    row = torch.tensor([[0.0, 0.0, -1.0, -3.0, -3.0], [2.0, -1.0, -1.0, -1.0, 0.5]])  # ties, two heads
    targets = torch.randint(0, 5, (50, 2), generator=torch.Generator().manual_seed(0))
    fixed, dense = FixedPrediction(row, 50), DensePrediction(row.expand(50, 2, 5).clone())
    for name, value in vars(fixed.scores(targets, (1, 3))).items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(value, getattr(dense.scores(targets, (1, 3)), name), rtol=0, atol=0)
    a, b = Metrics(5, 2), Metrics(5, 2)
    a.update(fixed[torch.arange(10, 50)], targets[10:])
    b.update(dense[torch.arange(10, 50)], targets[10:])
    assert a.result() == b.result()
