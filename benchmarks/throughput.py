"""Training throughput of seqlib's model next to a plain GPT of equal width and depth, against the matmul peak."""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import cpu_seconds, met, report, timed
from seqlib.model import ModelConfig, SeqModel

VOCAB, SEQ_LEN = 256, 256
CONFIGS = {  # the guide's presets
    "quick": dict(d_model=256, nlayers=6, nhead=8),
    "memory-efficient": dict(d_model=256, nlayers=4, nhead=8),
    "high-performance": dict(d_model=512, nlayers=8, nhead=16, dim_ff=2048),
}
DATASHEET_PEAKS = {  # dense bf16 (fp16 where no bf16) tensor FLOP/s; the first key in the device's name wins (gpu.py)
    "H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "B200": 2250e12, "A100": 312e12, "A10G": 70e12,
    "A10": 125e12, "L40S": 362e12, "L4": 121e12, "RTX 4090": 165e12, "RTX 3090": 71e12, "V100": 125e12, "T4": 65e12,
}
PRECISION = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
MATMULS = 4  # products per timed matmul call, so that one lasts about as long as a training step on the CPU


class PlainBlock(nn.Module):
    """GPT-2 block: x + attn(LayerNorm(x)), then x + MLP(LayerNorm(x)) with a GELU MLP of 4 * d_model."""

    def __init__(self, d: int, nhead: int):
        super().__init__()
        self.nhead = nhead
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.attn_proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.fc, self.mlp_proj = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> (B, T, d_model)."""
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.nhead, C // self.nhead).transpose(1, 2)
                   for t in self.qkv(self.ln1(x)).split(C, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.fc(self.ln2(x))))


class PlainGPT(nn.Module):
    """nanoGPT-style reference: learned absolute positions, LayerNorm, GELU MLP, head tied to the embedding."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.wte, self.wpe = nn.Embedding(cfg.vocab_size, cfg.d_model), nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(PlainBlock(cfg.d_model, cfg.nhead) for _ in range(cfg.nlayers))
        self.ln_f = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab_size) for int64 tokens x (B, T)."""
        h = self.wte(x) + self.wpe(torch.arange(x.size(1), device=x.device))
        for block in self.blocks:
            h = block(h)
        return F.linear(self.ln_f(h), self.wte.weight)

    def flops_per_token(self) -> int:
        """SeqModel's formula: 6 * matmul params (tied head included) + 12 * nlayers * d_model * seq_len."""
        cfg = self.cfg
        n_matmul = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))
        return 6 * (n_matmul + cfg.vocab_size * cfg.d_model) + 12 * cfg.nlayers * cfg.d_model * cfg.seq_len


def train_step(model: nn.Module, dtype: torch.dtype | None, compile: bool, batch: int,
               device: torch.device) -> Callable[[], None]:
    """One training step as the Trainer does it (autocast forward, backward, clip, AdamW) on a fixed batch."""
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=device.type == "cuda")
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    forward = torch.compile(model) if compile else model
    x, y = (torch.randint(0, VOCAB, (batch, SEQ_LEN), device=device) for _ in range(2))

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = forward(x)
            logits = logits[0] if isinstance(logits, tuple) else logits  # SeqModel returns (logits, loss)
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), y.reshape(-1))
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    return step


def build(kind: str, sizes: dict, device: torch.device) -> nn.Module:
    """seqlib's SeqModel or the plain GPT of the given sizes (one of CONFIGS), same seed."""
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=VOCAB, seq_len=SEQ_LEN, **sizes)
    return (SeqModel(cfg) if kind == "seqlib" else PlainGPT(cfg)).to(device)


def matmul(dtype: torch.dtype | None, n: int, device: torch.device) -> Callable[[], None]:
    """MATMULS dense n x n products in dtype (fp32 for None), 2 n^3 FLOPs each."""
    a, b = (torch.randn(n, n, device=device).to(dtype or torch.float32) for _ in range(2))

    def products() -> None:
        for _ in range(MATMULS):
            a @ b

    return products


def measure(config: str, modes: list[tuple[torch.dtype | None, bool]], device: torch.device, batch: int,
            warmup: int, steps: int, n: int) -> tuple[dict[tuple, list[tuple[float, float]]], float]:
    """(wall, CPU) seconds of each (model, mode) step and of n x n matmuls per precision, interleaved so that all of
    them share the machine's load alike (in an order that rotates, so that none always follows the same neighbour);
    and the cores used meanwhile."""
    runs = {(kind, mode): train_step(build(kind, CONFIGS[config], device), *mode, batch, device)
            for mode in modes for kind in ("seqlib", "plain")}
    runs |= {("matmul", dtype): matmul(dtype, n, device) for dtype in dict.fromkeys(mode[0] for mode in modes)}
    for run in runs.values():
        for _ in range(warmup):
            run()
    times = {key: [] for key in runs}
    keys = list(runs)
    cpu, start = cpu_seconds(), time.perf_counter()
    for i in range(steps):
        for key in keys[i % len(keys):] + keys[:i % len(keys)]:  # each run follows a different one each round
            run = runs[key]
            before = cpu_seconds()
            wall = timed(run, device)
            times[key].append((wall, cpu_seconds() - before))
    return times, (cpu_seconds() - cpu) / (time.perf_counter() - start)


def mode_name(mode: tuple[torch.dtype | None, bool]) -> str:
    """"fp32", "bf16 AMP", "bf16 AMP + compile", ..."""
    dtype, compiled = mode
    return ("fp32" if dtype is None else f"{PRECISION[dtype]} AMP") + (" + compile" if compiled else "")


def cpu_clock(device: torch.device) -> bool:
    """Time by CPU seconds (not wall) on a CPU with one thread: on a shared machine the wall clock also counts the
    time the process waits for a core, which differs from step to step; CPU time is the work's own."""
    return device.type == "cpu" and torch.get_num_threads() == 1


def throughput_rows(configs: list[str], modes: list, device: torch.device, batch: int, warmup: int, steps: int,
                    n: int) -> tuple[list[dict], dict]:
    """One row per config and mode (median tokens/s of both models, their ratio, fraction of the matmul peak measured
    with the same clock); the peaks."""
    clock = 1 if cpu_clock(device) else 0
    measured = {config: measure(config, modes, device, batch, warmup, steps, n) for config in configs}

    def median(times: list[tuple[float, float]], which: int = clock) -> float:
        return statistics.median(t[which] for t in times)

    peaks = {dtype: max(MATMULS * 2 * n**3 / median(times[("matmul", dtype)]) for times, _ in measured.values())
             for dtype in dict.fromkeys(mode[0] for mode in modes)}
    rows = []
    for config, (times, cores) in measured.items():
        flops = {kind: build(kind, CONFIGS[config], torch.device("cpu")).flops_per_token()
                 for kind in ("seqlib", "plain")}
        for mode in modes:
            tok = {kind: batch * SEQ_LEN / median(times[(kind, mode)]) for kind in ("seqlib", "plain")}
            rows.append({"config": config, "mode": mode_name(mode), "seqlib tok/s": tok["seqlib"],
                         "plain GPT tok/s": tok["plain"], "seqlib / plain": tok["seqlib"] / tok["plain"],
                         "seqlib % peak": f"{flops['seqlib'] * tok['seqlib'] / peaks[mode[0]]:.1%}",
                         "plain % peak": f"{flops['plain'] * tok['plain'] / peaks[mode[0]]:.1%}",
                         "seqlib tok/s (wall)": batch * SEQ_LEN / median(times[("seqlib", mode)], 0),
                         "plain tok/s (wall)": batch * SEQ_LEN / median(times[("plain", mode)], 0),
                         "cores used": cores})
    return rows, peaks


def profile_rows(config: str, mode: tuple, device: torch.device, batch: int, top: int = 12) -> list[dict]:
    """Top ops by self time of one training step, seqlib next to the plain GPT."""
    per_op = {}
    for kind in ("seqlib", "plain"):
        step = train_step(build(kind, CONFIGS[config], device), *mode, batch, device)
        for _ in range(2):
            step()
        with torch.profiler.profile() as prof:
            for _ in range(2):
                step()
        per_op[kind] = {e.key: (e.self_cpu_time_total / 2e3, e.count // 2) for e in prof.key_averages()}
    total = {kind: sum(ms for ms, _ in ops.values()) for kind, ops in per_op.items()}
    ranked = sorted(set(per_op["seqlib"]) | set(per_op["plain"]),
                    key=lambda op: -max(per_op["seqlib"].get(op, (0, 0))[0], per_op["plain"].get(op, (0, 0))[0]))
    rows = [{"op": op, **{f"{kind} ms/step": per_op[kind].get(op, (0.0, 0))[0] for kind in per_op},
             **{f"{kind} calls": per_op[kind].get(op, (0, 0))[1] for kind in per_op}} for op in ranked[:top]]
    return rows + [{"op": "total (all ops)", "seqlib ms/step": total["seqlib"], "plain ms/step": total["plain"],
                    "seqlib calls": "", "plain calls": ""}]


def cpu_section(quick: bool) -> None:
    """The CPU table, its targets and, when one is missed (full run only), a profile of the quick config."""
    cpu = torch.device("cpu")
    modes = [(None, False), (torch.bfloat16, False), (torch.bfloat16, True)]
    configs = ["quick"] if quick else ["quick", "memory-efficient"]
    batch = 16
    rows, peaks = throughput_rows(configs, modes, cpu, batch, warmup=2, steps=5 if quick else 9, n=2048)
    clock = "CPU seconds (one thread)" if cpu_clock(cpu) else "wall seconds"
    notes = [f"batch {batch} x seq_len {SEQ_LEN}, vocab {VOCAB}; forward + backward + clip + AdamW step; tokens/s "
             f"from the median of {5 if quick else 9} interleaved steps per model and mode, timed in {clock} "
             "(wall-clock tokens/s beside them). Matmul peak (2048^2 products timed between the steps, same clock): "
             f"fp32 {peaks[None] / 1e9:.1f} GFLOP/s, bf16 {peaks[torch.bfloat16] / 1e9:.1f} GFLOP/s; % peak = "
             "flops_per_token x tokens/s over the peak of the run's precision; cores used = CPU time / wall time of "
             f"the timed steps (of {os.cpu_count()}: other processes share the machine). GPU: benchmarks/gpu.py."]
    report("Training throughput (CPU)", rows, notes)

    row = {(r["config"], r["mode"]): r for r in rows}
    fp32, bf16, compiled = (row[("quick", mode_name(mode))] for mode in modes)
    frac = bf16["seqlib tok/s"] * build("seqlib", CONFIGS["quick"], cpu).flops_per_token() / peaks[torch.bfloat16]
    vs_eager = compiled["seqlib tok/s"] / bf16["plain GPT tok/s"]
    targets = [
        ("seqlib >= plain GPT, fp32, quick config", f"{fp32['seqlib / plain']:.2f}x", fp32["seqlib / plain"] >= 1.0),
        ("seqlib >= plain GPT, bf16 AMP (eager), quick config", f"{bf16['seqlib / plain']:.2f}x",
         bf16["seqlib / plain"] >= 1.0),
        (">= 45% of the bf16 matmul peak, bf16 AMP (eager), quick config", f"{frac:.1%}", frac >= 0.45),
        ("seqlib + compile >= 1.15x plain GPT + compile, bf16 AMP, quick config",
         f"{compiled['seqlib / plain']:.2f}x ({vs_eager:.2f}x the eager plain GPT)",
         compiled["seqlib / plain"] >= 1.15),
    ]
    report("Training throughput targets (CPU)",
           [{"target": target, "measured": value, "verdict": met(ok)} for target, value, ok in targets])
    if not quick and not all(ok for *_, ok in targets):
        report("Where the time goes: one training step, quick config, bf16 AMP (torch.profiler, self CPU time)",
               profile_rows("quick", (torch.bfloat16, False), cpu, batch))


def main(quick: bool = False) -> None:
    cpu_section(quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="quick config only, fewer steps")
    main(parser.parse_args().quick)
