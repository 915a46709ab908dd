import json
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from seqlib.errors import ConfigError
from seqlib.layers import CausalSelfAttention, LagMix, RMSNorm, apply_rope, causal_attention, pair_order, rope_cache
from seqlib.model import ModelConfig, SeqModel
from seqlib.outputs import Prior, token_bits
from seqlib.tokenize import Tokenizer
from seqlib.values import N_VALUES

TINY = dict(vocab_size=16, seq_len=16, d_model=32, nlayers=2, nhead=2)


def tiny(**overrides) -> SeqModel:
    torch.manual_seed(0)
    return SeqModel(ModelConfig(**{**TINY, **overrides})).eval()


def windows(seq: torch.Tensor, T: int, H: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x = seq[:, :T], y[:, t, h-1] = seq[:, t+h], as the data module builds them."""
    return seq[:, :T], torch.stack([seq[:, h : h + T] for h in range(1, H + 1)], dim=-1)


def test_rope_matches_complex_rotation_of_halves():
    T, hd, base = 12, 8, 100.0
    x = torch.randn(3, T, hd)
    cos, sin = rope_cache(T, hd, base)
    theta = base ** (-torch.arange(hd // 2, dtype=torch.float64) * 2 / hd)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * theta
    z = torch.complex(x[..., : hd // 2].double(), x[..., hd // 2 :].double())
    z = z * torch.polar(torch.ones_like(angles), angles)
    expected = torch.cat((z.real, z.imag), dim=-1).float()
    pairs = pair_order(hd)  # apply_rope takes each pair (i, i + hd/2) side by side
    torch.testing.assert_close(apply_rope(x[..., pairs], cos, sin), expected[..., pairs], atol=1e-5, rtol=1e-5)


def test_attention_is_rotate_halves_rope_attention_on_its_stored_weights():
    """The pair order inside the attention changes no score, so the module computes rotate-halves attention from the
    q, k, v rows as stored (and checkpoints written before the reorder compute what they did)."""
    torch.manual_seed(0)
    B, T, C, H = 2, 16, 32, 2
    D = C // H
    attn = CausalSelfAttention(ModelConfig(**TINY)).eval()
    x = torch.randn(B, T, C)
    theta = 10000.0 ** (-torch.arange(D // 2) * 2 / D)
    angles = torch.arange(T)[:, None] * theta
    c, s = angles.cos(), angles.sin()

    def rotate_halves(t: torch.Tensor) -> torch.Tensor:
        t1, t2 = t[..., : D // 2], t[..., D // 2 :]
        return torch.cat((t1 * c - t2 * s, t2 * c + t1 * s), dim=-1)

    q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in attn.qkv(x).split(C, dim=-1))
    y = F.scaled_dot_product_attention(rotate_halves(q), rotate_halves(k), v, is_causal=True)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, *rope_cache(T, D, 10000.0)), attn.proj(y.transpose(1, 2).reshape(B, T, C)))


@pytest.mark.parametrize("T", [1, 7, 16])
def test_cpu_bf16_attention_matches_sdpa(T):
    q, k, v = torch.randn(3, 2, 4, T, 8).unbind(0)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    got = causal_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), 0.0)
    torch.testing.assert_close(got.float(), expected, atol=0.03, rtol=0.03)


def test_rope_scores_depend_only_on_relative_position():
    hd, offset = 16, 7
    cos, sin = rope_cache(32, hd, 10000.0)
    q, k = torch.randn(hd), torch.randn(hd)

    def score(m: int, n: int) -> torch.Tensor:
        return apply_rope(q, cos[m], sin[m]) @ apply_rope(k, cos[n], sin[n])

    for m, n in [(5, 2), (9, 9), (3, 8)]:
        torch.testing.assert_close(score(m, n), score(m + offset, n + offset), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(score(5, 2), score(5, 3), atol=1e-3)


def test_rope_is_identity_at_position_zero_and_keeps_norms():
    cos, sin = rope_cache(8, 16, 10000.0)
    x = torch.randn(8, 16)
    y = apply_rope(x, cos, sin)
    torch.testing.assert_close(y[0], x[0])
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))


def test_logits_at_t_ignore_tokens_after_t():
    model = tiny(heads_ahead=2)
    x = torch.randint(0, 17, (2, 16))
    t = 9
    changed = x.clone()
    changed[:, t + 1 :] = (x[:, t + 1 :] + 1) % 17
    with torch.no_grad():
        a, b = model(x)[0], model(changed)[0]
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1])
    assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])


def test_sequences_longer_than_seq_len_extend_the_rope_cache():
    model = tiny()
    x = torch.randint(0, 16, (2, 40))
    with torch.no_grad():
        long, short = model(x)[0], model(x[:, :16])[0]
    assert model.rope_cos.shape[0] == 40
    torch.testing.assert_close(long[:, :16], short)


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("heads_ahead", [1, 3])
def test_output_shape_is_batch_time_heads_vocab(tie, heads_ahead):
    model = tiny(tie_embeddings=tie, heads_ahead=heads_ahead)
    x = torch.randint(0, 17, (3, 11))
    assert model(x)[0].shape == (3, 11, heads_ahead, 16)


def test_tied_head_one_is_the_embedding():
    model = tiny(heads_ahead=2)
    x = torch.randint(0, 17, (2, 16))
    x[:, 0] = 16  # the MASK row keeps its weights, so the hidden states are not all zero
    with torch.no_grad():
        model.out.wte.weight[:16] = 0.0
        logits, _ = model(x)
    assert torch.all(logits[:, :, 0] == 0)
    assert logits[:, :, 1].abs().sum() > 0
    assert tiny(heads_ahead=2, tie_embeddings=False).num_params() - model.num_params() == 16 * 32


@pytest.mark.parametrize("tie", [True, False])
def test_head_one_loss_reaches_embedding_rows_only_when_tied(tie):
    model = tiny(tie_embeddings=tie)
    x = torch.randint(0, 2, (2, 16))  # rows 2.. of the embedding are never looked up
    y = torch.randint(0, 16, (2, 16, 1))
    model.loss(x, y).backward()
    unused_rows_grad = model.out.wte.weight.grad[2:16].abs().sum().item()
    assert (unused_rows_grad > 0) == tie


def test_param_groups_partition_parameters_without_decaying_norms_or_embedding():
    model = tiny(heads_ahead=2)
    decay, no_decay = model.param_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    grouped = [id(p) for g in (decay, no_decay) for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    decayed = {id(p) for p in decay["params"]}
    norms = [m.weight for m in model.modules() if isinstance(m, nn.RMSNorm)]
    assert norms and all(id(p) not in decayed for p in norms)
    assert id(model.out.wte.weight) not in decayed
    assert all(id(m.weight) in decayed for m in model.modules() if isinstance(m, nn.Linear))


@pytest.mark.parametrize("lag_layers, n_lag", [(2, 2), (1, 1), (None, 1)])
def test_num_params_and_flops_match_the_formulas(lag_layers, n_lag):
    V, T, d, L, H, K = 16, 16, 32, 2, 3, 16
    model = tiny(heads_ahead=H, tie_embeddings=True, lag_layers=lag_layers)
    ff = model.cfg.dim_ff
    assert ff == 128 and model.cfg.lag_kernel == K  # round_up(8/3 * 32, 64); the default lag kernel
    matmul = L * (4 * d * d + 3 * d * ff) + n_lag * d * K + H * V * d
    assert model.num_params() == (V + 1) * d + matmul - V * d + (2 * L + n_lag) * d + d
    assert model.num_params(exclude_embedding=True) == model.num_params() - (V + 1) * d
    assert model.flops_per_token() == 6 * matmul + 12 * L * d * T


@pytest.mark.parametrize("lag", [0, 3, 7])
def test_lag_mix_reads_exactly_the_lags_its_kernel_weights(lag):
    mix = LagMix(ModelConfig(**TINY, lag_kernel=8))
    with torch.no_grad():
        mix.conv.weight.zero_()
        mix.conv.weight[:, 0, 7 - lag] = 1.0  # Conv1d weights run oldest first: index 7 - j reads lag j
    x = torch.randn(2, 12, 32)
    shifted = torch.cat([torch.zeros(2, lag, 32), x[:, : 12 - lag]], dim=1)
    assert torch.allclose(mix(x), shifted, atol=1e-6)


def test_lag_mix_gradients_are_those_of_the_depthwise_convolution():
    mix = LagMix(ModelConfig(**{**TINY, "d_model": 4}, lag_kernel=3)).double()
    x = torch.randn(2, 7, 4, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(mix, (x,))
    g = torch.randn(2, 7, 4, dtype=torch.float64)
    conv = F.conv1d(F.pad(x.transpose(1, 2), (2, 0)), mix.conv.weight, groups=4).transpose(1, 2)
    expected = torch.autograd.grad(conv, (x, mix.conv.weight), g)
    torch.testing.assert_close(torch.autograd.grad(mix(x), (x, mix.conv.weight), g), expected)


def test_lag_mix_compiled_gives_the_eager_values_and_gradients():
    mix = LagMix(ModelConfig(**TINY, lag_kernel=4))
    x = torch.randn(2, 12, 32, requires_grad=True)
    eager = mix(x)
    compiled = torch.compile(mix, backend="aot_eager", fullgraph=True)(x)  # the fused formulation
    torch.testing.assert_close(compiled, eager)
    g = torch.randn_like(eager)
    torch.testing.assert_close(torch.autograd.grad(compiled, (x, mix.conv.weight), g),
                               torch.autograd.grad(eager, (x, mix.conv.weight), g))


def test_normalize_is_rms_norm_without_its_gain_and_has_its_gradient():
    norm = RMSNorm(8)
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(norm.normalize(x), F.rms_norm(x, (8,), eps=torch.finfo(x.dtype).eps))
    torch.autograd.gradcheck(norm.normalize, (x,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert norm.normalize(x.float()).dtype == torch.bfloat16  # the next matmul's input


def test_lag_kernel_zero_builds_the_plain_transformer_block():
    model = tiny(lag_kernel=0)
    assert all(block.lag is None for block in model.blocks)
    assert model.num_params() == tiny(lag_layers=2).num_params() - 2 * (32 * 16 + 32)


def test_lag_mixing_sits_in_the_first_lag_layers_blocks_and_in_every_block_of_older_checkpoints():
    assert [block.lag is not None for block in tiny(nlayers=3).blocks] == [True, False, False]
    assert [block.lag is not None for block in tiny(nlayers=3, lag_layers=2).blocks] == [True, True, False]
    assert all(block.lag is not None for block in tiny(nlayers=3, lag_layers=5).blocks)
    old = {k: v for k, v in ModelConfig(**{**TINY, "nlayers": 3}).to_dict().items() if k != "lag_layers"}
    assert ModelConfig.from_dict(old).lag_layers == 3
    assert all(block.lag is not None for block in SeqModel(ModelConfig.from_dict(old)).blocks)


@pytest.mark.parametrize("output, n_lag", [("tokens", 1), ("bytes16", 1), ("bits16", 3)])
def test_the_default_lag_layers_follow_the_output_kind_and_an_explicit_value_wins(output, n_lag):
    cfg = dict(TINY, nlayers=3, vocab_size=256 if output == "tokens" else N_VALUES, output=output)
    assert sum(block.lag is not None for block in SeqModel(ModelConfig(**cfg)).blocks) == n_lag
    assert sum(block.lag is not None for block in SeqModel(ModelConfig(**cfg, lag_layers=2)).blocks) == 2
    assert ModelConfig(**cfg).to_dict()["lag_layers"] is None  # checkpoints keep "the default" (see LAG_LAYERS)


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_invalid_lag_kernel_is_refused(bad):
    with pytest.raises(ConfigError, match="lag_kernel"):
        ModelConfig(lag_kernel=bad)


def test_residual_projections_start_smaller():
    model = SeqModel(ModelConfig(d_model=64, nlayers=8, nhead=4, vocab_size=16))
    block = model.blocks[0]
    assert block.attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    for proj in (block.attn.proj, block.ffn.proj):
        assert proj.weight.std().item() == pytest.approx(0.02 / math.sqrt(16), rel=0.05)


def test_loss_is_float32_mean_cross_entropy_over_positions_and_heads():
    logits = torch.randn(2, 5, 3, 7).bfloat16()
    y = torch.randint(0, 7, (2, 5, 3))
    loss = tiny().out.loss(logits, y)
    log_p = logits.float().log_softmax(-1).gather(-1, y[..., None])
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, -log_p.mean())


def test_config_round_trips_through_plain_dict():
    cfg = ModelConfig(d_model=64, nhead=4, heads_ahead=2, tie_embeddings=False)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert d["dim_ff"] == 192  # round_up(8/3 * 64, 64)
    assert ModelConfig.from_dict(d) == cfg


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(d_model=256, nhead=7), "nhead=7 does not divide d_model=256; choose nhead among 1, 2, 4, 8, 16"),
        (dict(d_model=24, nhead=8), "head size 3"),
        (dict(d_model=25, nhead=5), "d_model=25 is odd"),
        (dict(d_model=0), "d_model=0"),
        (dict(nlayers=-1), "nlayers=-1"),
        (dict(vocab_size=0), "vocab_size=0"),
        (dict(heads_ahead=0), "heads_ahead=0"),
        (dict(seq_len=2.5), "seq_len=2.5"),
        (dict(dim_ff=0), "dim_ff=0"),
        (dict(dropout=1.0), "dropout=1.0"),
        (dict(dropout=-0.1), "dropout=-0.1"),
        (dict(rope_base=0.5), "rope_base=0.5"),
    ],
)
def test_bad_config_values_raise_one_line_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message) as info:
        ModelConfig(**kwargs)
    assert "\n" not in str(info.value)


def test_unknown_config_key_raises_config_error():
    with pytest.raises(ConfigError, match="unknown model config keys"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), "n_embd": 64})


def test_bf16_autocast_forward_is_finite_and_close_to_fp32():
    model = tiny(heads_ahead=2)
    x = torch.randint(0, 17, (2, 16))
    with torch.no_grad():
        fp32 = model(x)[0]
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            bf16 = model(x)[0]
    assert bf16.dtype == torch.bfloat16 and torch.isfinite(bf16).all()
    torch.testing.assert_close(bf16.float(), fp32, atol=0.05, rtol=0.05)


def test_forward_traces_as_one_graph_under_torch_compile():
    model = tiny(heads_ahead=2)
    x = torch.randint(0, 17, (2, 16))
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x)[0], model(x)[0])


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    model = tiny(heads_ahead=2).train()
    x, y = windows(torch.randint(0, 16, (4, 18)), T=16, H=2)
    opt = torch.optim.AdamW(model.param_groups(0.0), lr=1e-2)
    losses = []
    for _ in range(100):
        loss = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(math.log(16), abs=0.3)
    assert losses[-1] < 0.2 * losses[0]


# --- bytes16 models: 16-bit values as high byte, then low byte given it ---

WIDE = dict(TINY, vocab_size=65536, output="bytes16")


def wide(**overrides) -> SeqModel:
    torch.manual_seed(0)
    return SeqModel(ModelConfig(**{**WIDE, **overrides})).eval()


def test_config_names_its_output_kind_and_reads_the_flags_of_old_checkpoints():
    assert ModelConfig(**TINY).to_dict()["output"] == "tokens"
    cfg = ModelConfig(**WIDE)
    assert cfg.to_dict()["output"] == "bytes16" and ModelConfig.from_dict(cfg.to_dict()) == cfg
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("output", "linear_inputs")}
    assert ModelConfig.from_dict({**old, "factorized": True}) == cfg
    assert ModelConfig.from_dict({**old, "factorized": True, "bitwise": True}).output == "bits16"
    with pytest.raises(ConfigError, match="vocab_size must be 65536"):
        ModelConfig(**{**WIDE, "vocab_size": 256})
    with pytest.raises(ConfigError, match="--output=.bytes8. is out of range: it must be a str one of tokens, bytes16, bits16"):
        ModelConfig(**{**WIDE, "output": "bytes8"})


def test_checkpoints_from_before_the_output_modules_load_into_the_same_weights():
    model = wide(heads_ahead=2)
    old = {k.replace("out.heads.", "").replace("out.", ""): v for k, v in model.state_dict().items()}
    assert "wte_high.weight" in old and "head.weight" in old
    fresh = SeqModel(ModelConfig(**{**WIDE, "heads_ahead": 2}))
    fresh.load_state_dict(old)
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("tie", [True, False])
def test_bytes16_forward_gives_byte_logits_and_its_loss_is_the_value_cross_entropy(tie):
    model = wide(heads_ahead=2, tie_embeddings=tie)
    x, y = torch.randint(0, 65537, (3, 16)), torch.randint(0, 65536, (3, 16, 2))
    (high, low), loss = model(x, y)
    assert high.shape == low.shape == (3, 16, 2, 256)
    expected = -(high.log_softmax(-1).gather(-1, (y // 256)[..., None]) +
                 low.log_softmax(-1).gather(-1, (y % 256)[..., None])).mean()
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="needs the target values"):
        model(x)


def test_predict_gives_the_teacher_forced_probabilities_without_targets():
    model = wide(heads_ahead=2)
    x, y = torch.randint(0, 65536, (2, 16)), torch.randint(0, 65536, (2, 16, 2))
    with torch.no_grad():
        (high, low), _ = model(x, y)
    forced = (high.log_softmax(-1).gather(-1, (y // 256)[..., None]) +
              low.log_softmax(-1).gather(-1, (y % 256)[..., None]))[:, 5:, :, 0]
    factors = model.predict(x, start=5)
    assert factors.first.shape == (2 * 11, 2, 256)
    torch.testing.assert_close(factors.log_prob(y[:, 5:].reshape(-1, 2)), forced.reshape(-1, 2), atol=1e-5, rtol=1e-5)
    values, logp = factors.top(3)
    torch.testing.assert_close(factors.log_prob(values[..., 0]), logp[..., 0], atol=1e-5, rtol=1e-5)


def test_bytes16_logits_at_t_ignore_values_after_t_and_mask_has_its_own_rows():
    assert_causal_with_mask(wide(), lambda out: out[0][0])


def assert_causal_with_mask(model: SeqModel, logits) -> None:
    """logits(model(x, y)) at t ignore x after t, and MASK (65536) reads differently from the value 0."""
    x, y = torch.randint(0, 65536, (2, 16)), torch.randint(0, 65536, (2, 16, 1))
    changed, masked = x.clone(), x.clone()
    changed[:, 10:] = (x[:, 10:] + 257) % 65536
    masked[:, 3] = 65536
    with torch.no_grad():
        a, b, c = (logits(model(v, y)) for v in (x, changed, masked))
        zero = logits(model(torch.where(masked == 65536, 0, masked), y))
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])
    assert not torch.allclose(c[:, 3:], zero[:, 3:])


def test_bytes16_parameters_keep_embeddings_undecayed_and_flops_count_the_low_heads():
    model = wide(heads_ahead=2)
    decay, _ = model.param_groups(0.1)
    decayed = {id(p) for p in decay["params"]}
    assert id(model.out.wte_high.weight) not in decayed and id(model.out.wte_low.weight) not in decayed
    assert model.num_params(exclude_embedding=True) == model.num_params() - 2 * 257 * 32
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    lag = 32 * model.cfg.lag_kernel  # lag mixing in the first block only
    assert model.flops_per_token() == 6 * (linear + 2 * 256 * 32 + lag) + 12 * 2 * 32 * 16


def test_bytes16_bf16_autocast_is_close_to_fp32():
    model = wide(heads_ahead=2)
    x, y = torch.randint(0, 65536, (2, 16)), torch.randint(0, 65536, (2, 16, 2))
    with torch.no_grad():
        fp32 = model(x, y)[0]
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            bf16 = model(x, y)[0]
    for a, b in zip(fp32, bf16):
        assert torch.isfinite(b).all()
        torch.testing.assert_close(b.float(), a, atol=0.05, rtol=0.05)


def test_bytes16_forward_traces_as_one_graph_under_torch_compile():
    model = wide(heads_ahead=2)
    x, y = torch.randint(0, 65536, (2, 16)), torch.randint(0, 65536, (2, 16, 2))
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        for a, b in zip(compiled(x, y)[0], model(x, y)[0]):
            torch.testing.assert_close(a, b)


# --- bitwise (bits16) models: the 16 bits of a token one by one, lowest first, each given the bits below ---

BITWISE = dict(WIDE, output="bits16")


def bitwise(**overrides) -> SeqModel:
    """A bitwise model whose bits depend on their inputs (at init each head's output weights are zero: p = 1/2)."""
    torch.manual_seed(0)
    model = SeqModel(ModelConfig(**{**BITWISE, **overrides})).eval()
    for head in model.out.bit_heads:
        nn.init.normal_(head.ffn.proj.weight, std=0.05)
    return model


def test_bitwise_predicts_16_bit_values_and_round_trips():
    cfg = ModelConfig(**BITWISE)
    assert cfg.to_dict()["output"] == "bits16" and ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="a bits16 model predicts 16-bit values"):
        ModelConfig(**{**TINY, "output": "bits16"})


def test_token_bits_list_the_first_byte_then_the_second_lowest_bit_first():
    bits = token_bits(torch.tensor([0x0180, 0x8001]))
    assert bits[0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 1]
    assert bits[1].tolist() == [0, 0, 0, 0, 0, 0, 0, 1] + [1, 0, 0, 0, 0, 0, 0, 0]


def test_bitwise_loss_is_the_value_cross_entropy_of_its_byte_factors():
    model = bitwise(heads_ahead=2)
    x, y = torch.randint(0, 65537, (3, 16)), torch.randint(0, 65536, (3, 16, 2))
    with torch.no_grad():
        logits, loss = model(x, y)
        factors = model.predict(x)
    assert logits.shape == (3, 16, 2, 16)
    torch.testing.assert_close(loss, -factors.log_prob(y.reshape(-1, 2)).mean())
    torch.testing.assert_close(factors.first.exp().sum(-1), torch.ones(48, 2))
    every_first = torch.arange(256).expand(2, 2, 256)
    total = (factors[:2].first[..., None] + factors[:2].second(every_first)).exp().sum((-1, -2))
    torch.testing.assert_close(total, torch.ones(2, 2))  # all 65,536 values


def test_bitwise_logit_of_a_bit_ignores_the_bits_above_it():
    model = bitwise()
    x, y = torch.randint(0, 65536, (2, 16)), torch.randint(0, 65536, (2, 16, 1))
    for k in (0, 7, 8, 15):  # flip the k-th bit in the model's order (first byte's lowest ... second byte's highest)
        flipped = y ^ (1 << (8 + k if k < 8 else k - 8))
        with torch.no_grad():
            a, b = model(x, y)[0], model(x, flipped)[0]
        torch.testing.assert_close(a[..., :k + 1], b[..., :k + 1])
        assert k == 15 or not torch.allclose(a[..., k + 1:], b[..., k + 1:])


def test_bitwise_logits_at_t_ignore_values_after_t_and_mask_differs_from_zero():
    assert_causal_with_mask(bitwise(), lambda out: out[0])


def test_bitwise_bf16_autocast_is_close_to_fp32_and_traces_as_one_graph():
    model = bitwise(heads_ahead=2)
    x, y = torch.randint(0, 65536, (2, 16)), torch.randint(0, 65536, (2, 16, 2))
    with torch.no_grad():
        fp32 = model(x, y)[0]
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            bf16 = model(x, y)[0]
        compiled = torch.compile(model, backend="aot_eager", fullgraph=True)(x, y)[0]
    torch.testing.assert_close(bf16.float().sigmoid(), fp32.sigmoid(), atol=0.02, rtol=0)  # P(bit = 1)
    torch.testing.assert_close(compiled, fp32)


def test_bitwise_head_learns_addition_modulo_2_16_from_the_two_summands():
    """Given a and b in the context, the bits of a + b mod 2^16 (carries included) are learnt from the lowest up."""
    def tokens(v):  # as the bits16 tokenizer writes values: low byte first
        return (v % 256) * 256 + v // 256

    def batch(n):
        a, b = torch.randint(0, 65536, (2, n))
        return tokens(torch.stack([a, b], 1)), tokens((a + b) % 65536)[:, None, None].expand(-1, 2, 1)

    torch.manual_seed(0)
    model = SeqModel(ModelConfig(**{**BITWISE, "d_model": 64, "seq_len": 2, "nlayers": 1, "lag_kernel": 2})).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(400):
        x, y = batch(256)
        loss = model.out.loss(model(x, y)[0][:, 1:], y[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = batch(1024)
    factors = model.eval().predict(x, start=1)
    bits = -factors.log_prob(y[:, 1]).mean() / math.log(2)
    assert bits < 8.0  # chance: 16 bits
    assert factors.top(1)[0][:, 0, 0].eq(y[:, 1, 0]).float().mean() > 0.02  # chance: 1 / 65,536


@pytest.mark.parametrize("output", ["tokens", "bytes16", "bits16"])
def test_linear_inputs_are_a_factor_on_head_one_that_the_trunk_never_sees(output):
    kinds = {"tokens": TINY, "bytes16": WIDE, "bits16": BITWISE}
    torch.manual_seed(0)
    model = SeqModel(ModelConfig(**{**kinds[output], "heads_ahead": 2, "linear_inputs": True})).eval()
    classes = model.cfg.vocab_size if output == "tokens" else 65536
    tokens = torch.randint(0, classes, (3, 16))
    y = torch.stack([torch.randint(0, classes, (3, 16)) for _ in range(2)], -1)
    side = torch.randint(0, 1 << 32, (3, 16))
    x, x_other = torch.stack((tokens, side), -1), torch.stack((tokens, side ^ 0x10001), -1)
    with torch.no_grad():
        fresh = model.predict(x).log_prob(y.reshape(-1, 2))
        torch.testing.assert_close(fresh, model.predict(tokens).log_prob(y.reshape(-1, 2)))  # zero factor at init
        for prior in (m for m in model.modules() if isinstance(m, Prior)):
            nn.init.normal_(prior.weight, std=1.0)
        torch.testing.assert_close(model.features(x), model.features(x_other))
        logp, logp_other = (model.predict(inputs).log_prob(y.reshape(-1, 2)) for inputs in (x, x_other))
        _, loss = model(x, y)
    assert not torch.allclose(logp[:, 0], logp_other[:, 0])  # head 1 reads the predicted bits
    torch.testing.assert_close(logp[:, 1], logp_other[:, 1])  # head 2 predicts a value they say nothing of
    torch.testing.assert_close(loss, -logp.mean(), atol=1e-5, rtol=1e-5)  # training and prediction agree


@pytest.mark.parametrize("output", ["tokens", "bytes16", "bits16"])
def test_a_prior_set_from_the_scan_makes_a_fresh_model_the_linear_predictor(output):
    kinds = {"tokens": (TINY, Tokenizer("exact", lo=list(range(16)), hi=list(range(16)))),
             "bytes16": (WIDE, Tokenizer("bytes16")), "bits16": (BITWISE, Tokenizer("bits16"))}
    config, tokenizer = kinds[output]
    torch.manual_seed(0)
    model = SeqModel(ModelConfig(**{**config, "vocab_size": tokenizer.vocab_size, "linear_inputs": True})).eval()
    log_odds = torch.zeros(16)
    log_odds[0] = math.log(99)  # plane 0 right 99% of the time; the other planes are not linear
    model.out.init_prior(torch.as_tensor(tokenizer.bit_signs(), dtype=torch.float32), log_odds)
    tokens = torch.randint(0, 16, (2, 16))
    side = torch.randint(0, 2, (2, 16)) | (1 << 16)  # bit 0 predicted and known
    with torch.no_grad():
        dense = model.predict(torch.stack((tokens, side), -1)).dense()[:, 0].exp()
    values = torch.as_tensor(tokenizer.lo)  # the value of each class
    agrees = (values[None, :] & 1) == (side.reshape(-1, 1) & 1)
    p_agree = (dense[:, :len(values)] * agrees).sum(-1) / dense[:, :len(values)].sum(-1)  # UNK left out
    torch.testing.assert_close(p_agree, torch.full_like(p_agree, 0.99), atol=3e-3, rtol=0)
