"""Linear structure over GF(2): Berlekamp–Massey on the bit planes of a stream, a held-out check of each
recurrence found, and causal bit predictions from the recurrences that pass.

Many generators are linear over GF(2) in every output bit (Mersenne Twister, LFSRs, xorshift) or in their low bits
(LCGs modulo 2^k, additive lagged generators). Bit plane j of a stream is the sequence of bit j of its values; its
linear complexity L is the degree of the shortest recurrence s_t = XOR_{i in taps} s_{t-i} that generates it. A
random plane has L close to half its length, so a recurrence counts only when L stays unchanged well past 2L bits
(confirmed) and then predicts held-out bits better than each of the plane's own simple predictors does (always 0,
always 1, the previous bit and its complement: beats_simple, a one-sided t-test on batch means of the paired
differences, so that agreements that cluster do not count as independent). Words of 64 or 128 bits written as
16-bit values interleave 4 or 8 lanes per plane, each with its own recurrence; one plane of every 4th and 8th value
is screened for those (STRIDES).
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from .data import gather, sparse_reads
from .errors import CheckpointError, ConfigError, DataError

WORD = 64


def confirm_margin(L: int | np.ndarray, margin: int) -> int | np.ndarray:
    """Bits past 2L over which L must stay unchanged before it counts as confirmed: max(margin, L // 16)."""
    return np.maximum(margin, L // 16)


def _pack_reversed(bits: np.ndarray, n_words: int) -> np.ndarray:
    """(rows, k) 0/1 bits reversed along the row and packed into n_words uint64 words, bit i of the row at bit i % 64
    of word i // 64; zeros past the bits."""
    out = np.zeros((bits.shape[0], n_words * WORD), np.uint8)
    out[:, : bits.shape[1]] = bits[:, ::-1]
    return np.packbits(out, axis=1, bitorder="little").view("<u8")


def _shifted_copies(words: np.ndarray) -> np.ndarray:
    """copies[b][:, q] = the 64 bits that start at bit 64 q + b of each row (so any bit offset is a plain slice)."""
    rows, n = words.shape
    out = np.empty((WORD, rows, n - 1), np.uint64)
    out[0] = words[:, :-1]
    for b in range(1, WORD):
        np.bitwise_or(words[:, :-1] >> np.uint64(b), words[:, 1:] << np.uint64(WORD - b), out=out[b])
    return out


class LockstepBM:
    """Berlekamp–Massey over GF(2) on several bit sequences at once, fed incrementally.

    Polynomials are rows of uint64 words (bit i of a row = the coefficient of x^i); all running rows take each step
    together, so numpy's per-call cost is paid once per bit, not once per sequence per bit. A sequence stops when its
    linear complexity L is confirmed (unchanged over confirm_margin(L, margin) bits past 2L; margin=None: never) or
    when L exceeds its max_complexity.
    """

    def __init__(self, n_seqs: int, max_complexity: int | np.ndarray | None = None, margin: int | None = None):
        """max_complexity: one bound for every sequence or one per sequence (None: no limit)."""
        self.margin = margin
        self._caps = np.broadcast_to(np.asarray(1 << 62 if max_complexity is None else max_complexity, np.int64),
                                     (n_seqs,))
        self.n = 0  # bits processed by the running sequences
        self.L = np.zeros(n_seqs, np.int64)  # per sequence: linear complexity so far (final once stopped)
        self.bits_used = np.zeros(n_seqs, np.int64)
        self.confirmed = np.zeros(n_seqs, bool)
        self._stopped_C: dict[int, np.ndarray] = {}
        self._hist = np.zeros((n_seqs, 1 << 12), np.uint8)
        self._fed = 0
        self._rows = np.arange(n_seqs)  # sequence index of each running row
        self._C = np.zeros((n_seqs, 4), np.uint64)
        self._C[:, 0] = 1  # C(x) = 1
        # B(x) is kept multiplied by x^m (m = steps since L last changed): shifting every row by one bit per step
        # replaces a per-sequence shift at each update.
        self._B = np.zeros((n_seqs, 4), np.uint64)
        self._B[:, 0] = 2
        self._Lrun = np.zeros(n_seqs, np.int64)

    @property
    def running(self) -> int:
        """Number of sequences not stopped yet."""
        return len(self._rows)

    def taps(self, i: int) -> list[int]:
        """The lags j >= 1 with c_j = 1 in sequence i's connection polynomial: s_t = XOR of s_{t-j}."""
        if i in self._stopped_C:
            row = self._stopped_C[i]
        else:
            row = self._C[int(np.flatnonzero(self._rows == i)[0])]
        coef = np.unpackbits(row.view(np.uint8), bitorder="little")
        return [int(j) for j in np.flatnonzero(coef[1:]) + 1]

    def feed(self, bits: np.ndarray) -> None:
        """Process the next bits of every sequence: a (n_seqs, k) array of 0/1."""
        bits = np.asarray(bits, np.uint8)
        if bits.ndim != 2 or bits.shape[0] != len(self.L):
            raise DataError(f"feed needs a ({len(self.L)}, k) array of bits, one row per sequence, got shape "
                            f"{bits.shape}; pass bits[:, i:i + k]")
        k = bits.shape[1]
        if self._fed + k > self._hist.shape[1]:
            grown = np.zeros((self._hist.shape[0], max(2 * self._hist.shape[1], self._fed + k)), np.uint8)
            grown[:, : self._fed] = self._hist[:, : self._fed]
            self._hist = grown
        self._hist[:, self._fed : self._fed + k] = bits
        self._fed += k
        while self.running and self.n < self._fed:
            self._run(min(self._fed, self.n + max(4096, self.n // 4)))
        self.L[self._rows] = self._Lrun
        self.bits_used[self._rows] = self.n

    def _stop(self, keep: np.ndarray, n_used: int) -> None:
        """Freeze the running rows where keep is False."""
        for r in np.flatnonzero(~keep):
            i = int(self._rows[r])
            self.L[i], self.bits_used[i] = self._Lrun[r], n_used
            lw = int(self._Lrun[r]) // WORD + 1
            self._stopped_C[i] = self._C[r, :lw].copy()
            if self.margin is not None:
                self.confirmed[i] = n_used >= 2 * self._Lrun[r] + confirm_margin(self._Lrun[r], self.margin)
        self._rows, self._Lrun = self._rows[keep], self._Lrun[keep]
        self._C, self._B = self._C[keep], self._B[keep]

    def _confirm_at(self, L: np.ndarray) -> int:
        """First bit count at which one of the running rows would be confirmed (never: a huge number)."""
        if self.margin is None or len(L) == 0:
            return 1 << 62
        return int((2 * L + confirm_margin(L, self.margin)).min())

    def _run(self, n1: int) -> None:
        """Steps self.n .. n1-1 on the running rows, or fewer when a row stops (the caller loops)."""
        n0, L = self.n, self._Lrun
        lmax, lmin = int(L.max()), int(L.min())
        m0 = max(lmax, n0 + 1 - lmin)  # deg C <= L and deg(x^m B) <= n + 1 - L; this bound grows <= 1 bit/step
        w_max = (m0 + (n1 - n0)) // WORD + 2
        if self._C.shape[1] < w_max + 1:
            pad = ((0, 0), (0, 2 * w_max - self._C.shape[1]))
            self._C, self._B = np.pad(self._C, pad), np.pad(self._B, pad)
        # The window s_{n-i}, i = 0..64w-1, read from the sequence stored reversed, starts at bit n1 - 1 - n: with
        # 64 pre-shifted copies it is a plain slice. Bits before seg_lo are zeros: deg C never reaches them.
        seg_lo = max(0, n0 - m0 - 1)
        words = _pack_reversed(self._hist[self._rows, seg_lo:n1], -(-(n1 - seg_lo) // WORD) + w_max + 2)
        copies = _shifted_copies(words)
        C, B = self._C, self._B
        caps = self._caps[self._rows]
        # L changes at step n to n + 1 - L, so no row can pass its bound before step min(caps + L): a plain int to
        # compare with at every step.
        over_at = int((caps + L).min()) + 1
        confirm_at = self._confirm_at(L)
        for n in range(n0, n1):
            o = n1 - 1 - n
            w = (max(lmax, n + 1 - lmin) >> 6) + 1
            q = o >> 6
            d = np.bitwise_count(np.bitwise_xor.reduce(C[:, :w] & copies[o & 63, :, q : q + w], axis=1)) & 1
            if d.any():
                dmask = (np.uint64(0) - d.astype(np.uint64))[:, None]  # all ones where the discrepancy is 1
                change = d.astype(bool) & (2 * L <= n)
                if change.any():
                    old = C[change, : w + 1]
                    C[:, :w] ^= B[:, :w] & dmask
                    B[change, : w + 1] = old
                    L = np.where(change, n + 1 - L, L)
                    self._Lrun = L
                    lmax, lmin = int(L.max()), int(L.min())
                else:
                    C[:, :w] ^= B[:, :w] & dmask
            b = B[:, : w + 1]
            carry = b >> np.uint64(63)
            b <<= np.uint64(1)
            b[:, 1:] |= carry[:, :-1]
            if n + 1 >= over_at or n + 1 >= confirm_at:
                self.n = n + 1
                stop = L > caps
                if self.margin is not None:
                    stop |= n + 1 >= 2 * L + confirm_margin(L, self.margin)
                if stop.any():
                    self._stop(~stop, n + 1)
                    return
                confirm_at, over_at = self._confirm_at(L), int((caps + L).min()) + 1
        self.n = n1


def berlekamp_massey(bits: np.ndarray) -> tuple[int, list[int]]:
    """Linear complexity and taps of one 0/1 sequence: s_t = XOR of s_{t-j} over the taps j, for t >= L."""
    bits = np.asarray(bits, np.uint8).reshape(1, -1)
    bm = LockstepBM(1)
    bm.feed(bits)
    return int(bm.L[0]), bm.taps(0)


# ---------------------------------------------------------------------------------------------------------------
# Prediction: s_t = XOR of s_{t-j} over the taps, for many positions and several planes at once.

READ_BUDGET = 1 << 22  # values read per batch of runs (8 MB of uint16)
FFT_BUDGET = 1 << 21  # float64 elements per FFT call (16 MB)
# Measured on one core (benchmarks/linear_scan.py's machine): the XOR of one tap costs ~0.1-0.3 ns per position,
# scipy.signal.fftconvolve ~0.7-2.5 ns per element times log2 of the FFT length.
TAP_COST = 0.15e-9
FFT_COST = 1.5e-9


@dataclasses.dataclass
class _Plan:
    """How to predict a set of planes: tap planes share one XOR per distinct tap, FFT planes are convolved."""
    taps: np.ndarray  # the distinct taps of all tap planes
    masks: np.ndarray  # uint16, one per tap: bit j set when plane j has that tap
    fft: list[tuple[int, int, np.ndarray]]  # (plane, L, taps) convolved with FFTs
    history: int  # values needed before each position


def _runs(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index in positions where each run of consecutive positions begins, and its length."""
    begin = np.flatnonzero(np.diff(positions) != 1) + 1
    first = np.concatenate([[0], begin])
    return first, np.diff(np.concatenate([first, [len(positions)]]))


def _plan(specs: list[tuple[int, int, np.ndarray]], lengths: np.ndarray) -> _Plan:
    """Per group of planes with the same taps, XOR of shifted values or FFT convolution, whichever costs less."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for plane, _, taps in specs:
        groups.setdefault(tuple(taps.tolist()), []).append(plane)
    L_of = {plane: L for plane, L, _ in specs}
    masks: dict[int, int] = {}
    fft = []
    n_pos = int(lengths.sum())
    for taps, planes in groups.items():
        L = max(L_of[j] for j in planes)
        size = 2 * L + lengths
        fft_cost = FFT_COST * len(planes) * float((size * np.log2(size)).sum())
        if len(taps) * n_pos * TAP_COST <= fft_cost:
            for t in taps:
                masks[t] = masks.get(t, 0) | sum(1 << j for j in planes)
        else:
            fft += [(j, L_of[j], np.asarray(taps, np.int64)) for j in planes]
    return _Plan(np.array(sorted(masks), np.int64), np.array([masks[t] for t in sorted(masks)], np.uint16), fft,
                 max(L_of.values()))


def _rows(values: np.ndarray, lo: np.ndarray, width: int) -> np.ndarray:
    """values[s : s + width] for each s in lo as uint16 rows, zeros where a row reaches outside the stream."""
    n = len(values)
    inside = (lo >= 0) & (lo + width <= n)
    if inside.all():
        return gather(values, lo, width).astype(np.uint16, copy=False)
    out = np.zeros((len(lo), width), np.uint16)
    if inside.any():
        out[inside] = gather(values, lo[inside], width)
    edge = np.flatnonzero(~inside)
    idx = lo[edge, None] + np.arange(width)
    with sparse_reads(values):
        out[edge] = np.where((idx >= 0) & (idx < n), values[np.clip(idx, 0, n - 1)], 0)
    return out


def _convolve(rows: np.ndarray, plane: int, L: int, taps: np.ndarray, history: int, width: int) -> np.ndarray:
    """Predicted bits of one plane at the last `width` columns of rows, by FFT convolution with the taps."""
    from scipy.signal import fftconvolve  # here, not at the top: scipy.signal alone costs training ~70 MB and 1 s

    kernel = np.zeros(L + 1)
    kernel[taps] = 1.0  # kernel[0] = 0: the bit at the position itself never enters
    out = np.empty((len(rows), width), np.uint16)
    step = max(1, FFT_BUDGET // (2 * L + width))
    for i in range(0, len(rows), step):
        x = ((rows[i : i + step, history - L :] >> plane) & 1).astype(np.float64)
        counts = fftconvolve(x, kernel[None, :], mode="valid", axes=1)  # integers up to len(taps), exact after rint
        out[i : i + step] = (np.rint(counts).astype(np.int64) & 1) << plane
    return out


def _viewed(v, view: tuple[int, int]):
    """(v - low) // div (below low: 0) of a signed NumPy array or a tensor: the values whose bit planes the scan
    takes (linear._views)."""
    low, div = view
    return v if view == (0, 1) else (v - low).clip(0) // div


def _viewed16(v: np.ndarray, view: tuple[int, int]) -> np.ndarray:
    """_viewed of uint16 values, as uint16 (the values themselves pass through uncopied)."""
    return v if view == (0, 1) else _viewed(v.astype(np.int64), view).astype(np.uint16)


def _predict(values: np.ndarray, positions: np.ndarray, specs: list[tuple[int, int, np.ndarray]],
             view: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Predicted bits (bit j = plane j of the viewed values, _viewed) at each position from the L_j values before
    it, for the (plane, L, taps) specs; bits of positions with fewer than L_j values before them are meaningless
    (mask them with _known)."""
    out = np.zeros(len(positions), np.uint16)
    if not specs or len(positions) == 0:
        return out
    first, lengths = _runs(positions)
    plan = _plan(specs, lengths)
    if not len(plan.taps) and not plan.fft:
        return out  # every recurrence is s_t = 0
    H = plan.history
    if not plan.fft and len(positions) * len(plan.taps) < len(first) * H:
        # Scattered positions: reading each position's taps reads less than whole histories.
        step = max(1, READ_BUDGET // max(1, len(plan.taps)))
        for i in range(0, len(positions), step):
            idx = positions[i : i + step, None] - plan.taps
            with sparse_reads(values):
                v = _viewed16(values[np.maximum(idx, 0)].astype(np.uint16, copy=False), view)
            out[i : i + step] = np.bitwise_xor.reduce(v & plan.masks, axis=1)
    else:
        # Runs of consecutive positions: one row of history + run per run, runs of similar length batched together.
        order = np.argsort(lengths, kind="stable")
        max_rows = max(1, READ_BUDGET // (H + 1))
        i = 0
        while i < len(order):
            widths = H + lengths[order[i : i + max_rows]]  # ascending: a batch's rows are as wide as its last
            j = i + max(1, int((np.arange(1, len(widths) + 1) * widths <= READ_BUDGET).sum()))
            sel = order[i:j]
            width = int(lengths[sel].max())
            rows = _viewed16(_rows(values, positions[first[sel]] - H, H + width), view)
            acc = np.zeros((len(sel), width), np.uint16)
            for t, mask in zip(plan.taps.tolist(), plan.masks):
                acc ^= rows[:, H - t : H - t + width] & mask
            for plane, L, taps in plan.fft:
                acc |= _convolve(rows, plane, L, taps, H, width)
            keep = np.arange(width) < lengths[sel, None]
            out[(first[sel, None] + np.arange(width))[keep]] = acc[keep]
            i = j
    return out


def _known(positions: np.ndarray, specs: list[tuple[int, int, np.ndarray]],
           phases: dict[int, tuple[int, int]] | None = None) -> np.ndarray:
    """Bit j set where the position has at least L_j values before it (and, for a plane in phases, is one of the
    positions phase (mod stride) where its recurrence holds)."""
    known = np.zeros(len(positions), np.uint16)
    for plane, L, _ in specs:
        ok = positions >= L
        if phases and plane in phases:
            stride, phase = phases[plane]
            ok &= positions % stride == phase
        known |= ok.astype(np.uint16) << plane
    return known


# ---------------------------------------------------------------------------------------------------------------
# Scan: which bit planes of a block obey a short linear recurrence, with the evidence.

MT19937_DEGREE = 19_937
SFMT_DEGREE = 19_968  # of each 128-bit lane of libstdc++'s sfmt19937 (its whole state)
FEED = 8192  # values handed to Berlekamp–Massey per call


@dataclasses.dataclass
class PlaneScan:
    """One bit plane: its linear complexity, how it was confirmed and checked, and its recurrence."""
    plane: int
    L: int  # linear complexity found (a lower bound when not confirmed)
    bits_used: int  # bits Berlekamp–Massey read
    confirmed: bool  # L unchanged over confirm_margin(L) bits past 2L
    agreements: int  # held-out positions where the recurrence predicted the bit
    checked: int  # held-out positions checked (0 when not confirmed)
    p_value: float  # one-sided test that the recurrence agrees more often than each simple predictor (beats_simple)
    linear: bool  # confirmed and p_value < alpha
    eps: float  # smoothed disagreement rate (errors + 0.5) / (checked + 1), never 0
    taps: list[int]  # lags j >= 1 of s_t = XOR s_{t-j}; empty when not confirmed
    stride: int = 1  # Berlekamp–Massey read every stride-th value (a lane, _Row); L, bits_used, taps: in values
    phase: int | None = None  # the recurrence holds at the positions t = phase (mod stride) only; None: at every t


@dataclasses.dataclass
class LinearScan:
    """The result of scan(): one PlaneScan per bit plane, and the scan's settings."""
    planes: list[PlaneScan]
    alpha: float
    max_complexity: int  # the largest L asked for
    confirmable: int  # the largest L the block could confirm (max_complexity, or less in a short block)
    margin: int
    n_values: int  # values in the scanned block
    low: int = 0  # the planes are those of (x - low) // div (a die's faces scaled from the top of its source)
    div: int = 1
    lanes: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (stride, largest L in a lane) screened
    phases: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (stride, largest L), each phase alone

    @property
    def view(self) -> tuple[int, int]:
        return self.low, self.div

    @property
    def view_text(self) -> str:
        """'' for the values themselves, else e.g. ' of (x - 1) // 5'."""
        x = f"(x - {self.low})" if self.low else "x"
        return "" if self.view == (0, 1) else f" of {x} // {self.div}"

    def viewed(self, v):
        """The values whose bits are the planes, of a signed NumPy array or a tensor of values (_viewed)."""
        return _viewed(v, self.view)

    @property
    def linear_planes(self) -> list[int]:
        """Indices of the planes that passed both tests."""
        return [p.plane for p in self.planes if p.linear]

    @property
    def max_complexity_found(self) -> int:
        """The largest L among the linear planes (0 when none)."""
        return max((p.L for p in self.planes if p.linear), default=0)

    def log_odds(self) -> np.ndarray:
        """(16,) log((1 - eps) / eps) of each linear plane's recurrence (0 for the other planes)."""
        out = np.zeros(16)
        for p in self.planes:
            if p.linear:
                out[p.plane] = math.log((1 - p.eps) / p.eps)
        return out

    def _specs(self) -> list[tuple[int, int, np.ndarray]]:
        return [(p.plane, p.L, np.asarray(p.taps, np.int64)) for p in self.planes if p.linear]

    def predict_bits(self, values: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted bits of every linear plane of values[p], from values[p - L .. p - 1] only, as uint16 arrays:
        bits (bit j = predicted bit of plane j) and known (bit j = 1 when plane j is linear and p >= L_j)."""
        values = _stream(values)
        positions = np.asarray(positions)
        if positions.ndim != 1 or not (positions.dtype.kind in "iu" or positions.size == 0):
            raise DataError(f"positions must be a 1-D integer array, got dtype {positions.dtype} with shape "
                            f"{positions.shape}; pass e.g. np.arange(start, stop)")
        positions = positions.astype(np.int64)
        if positions.size and (positions.min() < 0 or positions.max() > len(values)):  # len(values): the next value
            raise DataError(f"positions must lie in [0, {len(values)}] for a stream of {len(values):,} values, got "
                            f"{positions.min()}..{positions.max()}; drop the positions outside the stream")
        specs = self._specs()
        known = _known(positions, specs, {p.plane: (p.stride, p.phase) for p in self.planes
                                          if p.linear and p.phase is not None})
        return _predict(values, positions, specs, self.view) & known, known

    def side_channel(self, values: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        """The model's linear inputs (B, length) int64 for windows of `length` values at `starts`: at position i the
        predicted bits of the value after it, values[start + i + 1] (bit j), and which are known (bit 16 + j),
        computed from the values up to start + i only."""
        positions = (np.asarray(starts, np.int64)[:, None] + np.arange(1, length + 1)).reshape(-1)
        bits, known = self.predict_bits(values, positions)
        return (bits.astype(np.int64) | (known.astype(np.int64) << 16)).reshape(len(starts), length)

    def family_hint(self) -> str | None:
        """A guess at the generator family from the complexities and recurrences; None when nothing fits."""
        lin = [p for p in self.planes if p.linear]
        if not lin:
            return None
        stride = max(p.stride for p in lin)
        # + 1: a bit's complement (a face offset); SFMT's lanes keep the 31 dimensions MT19937 drops: 156 x 128 bits
        if any(p.L // p.stride in (MT19937_DEGREE, MT19937_DEGREE + 1, SFMT_DEGREE) for p in lin):
            return MT_WORDS.get(stride, "Mersenne Twister (MT19937)")
        if len(lin) == len(self.planes) and all(p.L in (32, 64, 128) for p in lin):
            return "xorshift-style generator"
        # x + y of two words of one linear state of n bits: bit 0 is linear (degree n), bit 1 quadratic in the state,
        # so its complexity is at most n + n(n - 1)/2, which it reaches.
        by_plane = {p.plane: p.L // p.stride for p in lin}
        n = by_plane.get(0)
        if n in (64, 128, 256) and by_plane.get(1, n + n * (n - 1) // 2) == n + n * (n - 1) // 2 and len(lin) <= 2:
            return ("the + scrambler of an xorshift-family generator (xorshift128+, xoroshiro128+, xoshiro128+, "
                    "xoshiro256+)")
        # A plane of period 2^k has (1 + x)^L as its connection polynomial, L <= 2^k: bit j of an LCG modulo a
        # power of two has period 2^(j+1), so x_t = x_{t - 2^(j+1)}.
        if all(p.L >= 2 and p.taps == [i for i in range(1, p.L + 1) if i & p.L == i] for p in lin):
            return "LCG modulo a power of two"
        # Carries make bit j a polynomial of degree j+1 in the lowest plane: only the lowest planes stay linear.
        if [p.plane for p in lin] == [p.plane for p in self.planes[: len(lin)]] and len(lin) < len(self.planes):
            return "addition with carries (e.g. additive lagged generator)"
        return None

    def brief(self) -> str:
        """The linear planes in a few words, e.g. "bit planes 0-1 (linear over GF(2), degree 527 to 41,478)"."""
        lin = [p for p in self.planes if p.linear]
        Ls = sorted({p.L for p in lin})
        degree = f"degree {Ls[0]:,}" if len(Ls) == 1 else f"degree {Ls[0]:,} to {Ls[-1]:,}"
        lane = next((f" of every {_nth(p.stride)} value" for p in lin if p.phase is not None), "")
        return (f"bit plane{'s' if len(lin) > 1 else ''} {_ranges([p.plane for p in lin])}{self.view_text}{lane} "
                f"(linear over GF(2), {degree})")

    def describe(self) -> str:
        """One line for the verdict: which planes are linear, of what degree, and what that predicts."""
        lin = [p for p in self.planes if p.linear]
        if not lin:
            lanes = " and ".join(f"of every {_nth(s)} value ({16 * s}-bit words) up to {c:,}" for s, c in self.lanes)
            lanes = f", nor plane 0 {lanes}" if lanes else ""
            return (f"no bit plane obeys a linear recurrence over GF(2) of degree up to {self.confirmable:,}{lanes} "
                    f"({len(self.planes)} planes scanned, alpha = {self.alpha:g}): no linear structure found")
        Ls = sorted({p.L for p in lin})
        degree = f"of degree {Ls[0]:,}" if len(Ls) == 1 else f"of degree {Ls[0]:,} to {Ls[-1]:,}"
        over, every = "over GF(2)", "every value"
        stride = max(p.stride for p in lin)
        if stride > 1:  # found in lanes: say so, with the lanes' own degree
            lane = sorted({p.L // p.stride for p in lin})
            lane = f"{lane[0]:,}" if len(lane) == 1 else f"{lane[0]:,} to {lane[-1]:,}"
            words = f"{16 * stride}-bit words written as 16-bit values"
            phase = next((p.phase for p in lin if p.phase is not None), None)
            if phase is None:
                over += f" (degree {lane} in each of {stride} interleaved lanes: {words})"
            else:
                every = f"every {_nth(stride)} value"
                over += (f" at {every}, those at {phase} mod {stride} (degree {lane} in that lane, one 16-bit slice "
                         f"of {words})")
        names, of = _ranges([p.plane for p in lin]), self.view_text
        subject = f"bit planes {names}{of} each obey" if len(lin) > 1 else f"bit plane {names}{of} obeys"
        hint = self.family_hint()
        hint = f" (hint: {hint})" if hint else ""
        share = min(p.agreements / p.checked for p in lin)
        # A recurrence can pass on part of the check only (a stream that changes); then the line says how much.
        agreement = "" if share == 1 else f" (held-out agreement {share:.2%})"
        if len(lin) == len(self.planes) and not of:
            return (f"{subject} a linear recurrence {degree} {over}: a linear generator{hint}; {every} is "
                    f"predicted from the {Ls[-1]:,} before it{agreement}")
        if of:  # the top bits of a die's source: its faces scaled from a linear generator's output
            bits = f"bits {names}{of} are" if len(lin) > 1 else f"bit {names}{of} is"
            return (f"{subject} a linear recurrence {degree} {over}: the faces are scaled from a linear generator's "
                    f"output{hint}; for every value, {bits} predicted from the {Ls[-1]:,} values before it{agreement}")
        bits = f"bits {names} of {every} are" if len(lin) > 1 else f"bit {names} of {every} is"
        each = "each value" if every == "every value" else every
        return (f"{subject} a linear recurrence {degree} {over}: part of {each} is linear{hint}; {bits} "
                f"predicted from the {Ls[-1]:,} values before it{agreement}")

    def table(self) -> pd.DataFrame:
        """One row per plane, for printing; lanes: where the recurrence holds when not at every value ("all 4": every
        4th value's lanes alike, "1 mod 4": that lane alone)."""
        def lanes(p: PlaneScan) -> str:
            return "" if p.stride == 1 else f"all {p.stride}" if p.phase is None else f"{p.phase} mod {p.stride}"

        return pd.DataFrame([{"plane": p.plane, "L": p.L, "lanes": lanes(p), "bits used": p.bits_used,
                              "confirmed": p.confirmed,
                              "agreement share": p.agreements / p.checked if p.checked else float("nan"),
                              "checked": p.checked, "p-value": p.p_value, "linear": p.linear} for p in self.planes])

    def to_dict(self) -> dict:
        """Plain ints, floats, bools, strs, lists and dicts, for checkpoints and JSON."""
        return {**dataclasses.asdict(self), "lanes": [list(lane) for lane in self.lanes],
                "phases": [list(lane) for lane in self.phases]}

    @classmethod
    def from_dict(cls, d: dict) -> LinearScan:
        """The inverse of to_dict."""
        try:
            planes = [PlaneScan(**{**p, "taps": [int(t) for t in p["taps"]]}) for p in d["planes"]]
            return cls(**{**d, "planes": planes, "lanes": [tuple(lane) for lane in d.get("lanes", [])],
                          "phases": [tuple(lane) for lane in d.get("phases", [])]})
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"not a LinearScan dict ({e}); pass the dict that LinearScan.to_dict() wrote") from e


def _nth(stride: int) -> str:
    """'2nd', '4th' or '8th' (the strides of lanes)."""
    return "2nd" if stride == 2 else f"{stride}th"


def _ranges(planes: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    parts, start = [], planes[0]
    for a, b in zip(planes, planes[1:] + [None]):
        if b != a + 1:
            parts.append(f"{start}-{a}" if a > start else f"{a}")
            start = b
    return ", ".join(parts)


def _stream(values: np.ndarray) -> np.ndarray:
    """values as a 1-D integer array (a memmap stays a memmap), or a DataError."""
    if not isinstance(values, np.ndarray):
        values = np.asarray(values)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise DataError(f"a linear scan needs a 1-D array of integer values, got dtype {values.dtype} with shape "
                        f"{values.shape}; pass the uint16 stream, e.g. seqlib.data.open_u16(path)")
    if len(values) == 0:
        raise DataError("the stream is empty; pass a block with values in it")
    return values


def confirmable(n_bits: int, max_complexity: int, margin: int) -> int:
    """The largest L <= max_complexity that n_bits bits can confirm: 2L + confirm_margin(L) <= n_bits."""
    lo, hi = -1, max_complexity  # lo: confirmable (or -1), hi: bound
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if 2 * mid + confirm_margin(mid, margin) <= n_bits:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _Row(NamedTuple):
    """A sequence Berlekamp–Massey reads: plane `plane` of every stride-th value from `first`; its recurrence,
    stretched by the stride, must hold at every position (every=True) or only at those of its own lane."""
    plane: int
    stride: int = 1
    first: int = 0
    every: bool = True


def _run_bm(head: np.ndarray, rows: list[_Row], n_bits: int, caps: list[int], margin: int | None) -> LockstepBM:
    """Berlekamp–Massey in lockstep on the first n_bits bits of each row's sequence, with L bounded by the row's cap
    (margin None: no early stop on confirmation). A row's cap must let it stop within its values (confirmable);
    zeros follow them."""
    bm = LockstepBM(len(rows), np.array([max(c, 0) for c in caps]), margin)
    for i in range(0, n_bits, FEED):
        if not bm.running:
            break
        bits = np.zeros((len(rows), min(n_bits, i + FEED) - i), np.uint8)
        for r, row in enumerate(rows):
            lo = row.first + i * row.stride
            lane = (head[lo : lo + bits.shape[1] * row.stride : row.stride] >> row.plane) & 1
            bits[r, : len(lane)] = lane
        bm.feed(bits)
    return bm


def _check(head: np.ndarray, rows: list[_Row], bm: LockstepBM, confirmed: np.ndarray, max_check: int,
           alpha: float, which: list[int] | None = None) -> list[PlaneScan]:
    """A PlaneScan per row of bm in which (default: all): each confirmed recurrence, stretched by its row's stride
    (a lane's s_n = XOR s_{n-j} is the stream's s_t = XOR s_{t-sj}), predicts the next max_check values that none of
    these rows has read (those of its lane only, unless row.every), and is linear when it beats the plane's simple
    predictors there (p < alpha)."""
    which = list(range(len(rows))) if which is None else which
    start = max(rows[i].first + int(bm.bits_used[i]) * rows[i].stride for i in which)  # none of these rows read it
    actual = head[start : start + max_check]
    positions = np.arange(start, start + len(actual))
    taps = {i: [t * rows[i].stride for t in bm.taps(i)] for i in which if confirmed[i]}
    agree = {}  # row -> its agreements; one prediction per lane (rows of a lane have distinct planes)
    for lane in dict.fromkeys(rows[i][1:] for i in taps):
        members = [i for i in taps if rows[i][1:] == lane]
        specs = [(rows[i].plane, int(bm.L[i]) * rows[i].stride, np.asarray(taps[i], np.int64)) for i in members]
        hits = ~(_predict(head, positions, specs) ^ actual)
        agree |= {i: (hits >> rows[i].plane) & 1 for i in members}
    out = []
    for i in which:
        row, p_value, checked, hits = rows[i], 1.0, 0, 0
        if i in agree:
            # A stretched recurrence must beat the simple predictors in every lane (the largest p of the lanes):
            # one that holds in some lanes only (a word with one linear slice) is a lane's alone.
            lanes = range(row.stride) if row.every else [row.first % row.stride]
            own = [positions % row.stride == f for f in lanes]
            a = agree[i][np.logical_or.reduce(own)]
            checked, hits = len(a), int(a.sum())
            p_value = max(beats_simple(agree[i][o], (actual[o] >> row.plane) & 1, exact=bool(agree[i][o].all()))
                          for o in own) if checked else 1.0
        out.append(PlaneScan(row.plane, int(bm.L[i]) * row.stride, int(bm.bits_used[i]) * row.stride,
                             bool(confirmed[i]), hits, checked, p_value, checked > 0 and p_value < alpha,
                             (checked - hits + 0.5) / (checked + 1), taps.get(i, []), row.stride,
                             None if row.every else row.first % row.stride))
    return out


BATCHES = 64  # batch means of beats_simple (fewer in a short check: at least BATCH_MIN values each)
BATCH_MIN = 32
MIN_BATCHES = 8  # fewer: too few held-out bits to test, p = 1


def beats_simple(agree: np.ndarray, bits: np.ndarray, exact: bool = False) -> float:
    """One-sided p-value that a recurrence's agreements with held-out bits (0/1 per position) beat every simple
    predictor of those bits: always 0, always 1 and, unless the recurrence was exact, the previous bit and its
    complement.

    Each comparison is paired: d_t = agree_t - simple_t over the positions after the first, cut into up to BATCHES
    contiguous batches, and a t-test on the batch means (B - 1 degrees of freedom). Agreements are not independent
    (a plane that drifts agrees in runs, and a recurrence shares its taps between neighbours), so a binomial test on
    them would be too bold; batch means assume only that the dependence is short beside a batch (at least 32 values,
    about 15,600 in a full scan's check). The p-value is the largest of the comparisons' (an intersection-union
    test: it rejects when every simple predictor is beaten, at the level alpha with no correction).

    Why the previous bit: a plane that changes slowly (the high bits of a drifting sensor) can fool Berlekamp–Massey:
    over a constant stretch any recurrence with an odd number of taps holds, so one of low degree is confirmed, and
    it then agrees with most held-out bits only because they repeat; the previous bit agrees with them more often
    still. An exact recurrence ties the previous bit (or its complement) only on a plane of period 1 or 2, which is
    linear (s_t = s_{t-2}), so it need not beat them; always 0 or 1 still rules out a constant plane.
    """
    from scipy.special import stdtr  # Student's t CDF; scipy.stats would cost training ~50 MB more

    agree, bits = np.asarray(agree, np.int8), np.asarray(bits, np.int8)
    n = len(bits) - 1
    b = min(BATCHES, n // BATCH_MIN) if n > 0 else 0
    if b < MIN_BATCHES:
        return 1.0
    simple = [bits[1:], 1 - bits[1:]] + ([] if exact else [(bits[1:] == bits[:-1]).astype(np.int8),
                                                           (bits[1:] != bits[:-1]).astype(np.int8)])
    size = n // b
    worst = 0.0
    for s in simple:  # P(agree = 1) = P(bit = 1) for "always 1", etc.
        means = (agree[1:1 + b * size] - s[:b * size]).reshape(b, size).mean(axis=1)
        mean, sd = means.mean(), means.std(ddof=1)
        p = (0.0 if mean > 0 else 1.0) if sd == 0 else float(stdtr(b - 1, -mean / (sd / np.sqrt(b))))
        worst = max(worst, p)
    return worst


# 2^16 + 1: bit 16 of an LCG modulo 2^32 (period 2^17), the lowest output bit of the classic rand() that returns
# state >> 16; a default of 2^16 would miss it by one.
MAX_COMPLEXITY = 65_537
# A generator of 64- or 128-bit words dumped as 16-bit values interleaves 4 or 8 lanes, each a bit plane of the word
# sequence: a recurrence of degree L per lane is one of degree stride x L in the stream (MT19937-64: 4 x 19,937 =
# 79,748), beyond MAX_COMPLEXITY. Generators linear in every bit share one characteristic polynomial across their
# bits, so one plane of one lane screens for them (_scan_head): a few percent of a scan. A lane's bound reaches the
# quadratic bit of a 256-bit linear state, n + n(n - 1)/2 (bit 1 of xoshiro256+), and so 2^15 + 1 (bit 15 of an
# LCG's state: period 2^16).
STRIDES = (4, 8)
LANE_COMPLEXITY = 256 + 256 * 255 // 2  # 32,896
# One lane alone can be linear where the others are not: bit 0 of xorshift128+ / xoroshiro128+ / xoshiro256+ is the
# XOR of two state bits (L = 128 or 256 per lane) but bit 16 has carries; a raw LCG state's low half. Each lane of
# 32-, 64- and 128-bit words is screened up to a small degree (cheap: 14 short rows).
PHASE_STRIDES = (2, 4, 8)
PHASE_COMPLEXITY = 4096
PHASE_MIN = 64  # a block too short for lanes of this degree screens none
MT_WORDS = {4: "Mersenne Twister on 64-bit words (MT19937-64)", 8: "SIMD-oriented Mersenne Twister (SFMT19937, "
            "dSFMT: 128-bit words)"}
FACES = 1024  # complete alphabets of at most this many values also have the planes of their top bits (_views)


def scan(values: np.ndarray, *, alpha: float = 1e-3, max_complexity: int = MAX_COMPLEXITY, margin: int = 64,
         max_check: int = 1_000_000, start: int = 0) -> LinearScan:
    """Find the bit planes of a block that obey a linear recurrence over GF(2) of degree <= max_complexity.

    Planes are the 16 bits of each value when the values use 16 bits; otherwise the raw value's bits up to
    int(max).bit_length() (a die with faces 0-5 has planes 0-2), max over the values read. Reads at most the first
    2 max_complexity + confirm_margin + max_check values (about 1.1M by default). Berlekamp–Massey runs on all planes
    in lockstep until each L is confirmed (unchanged for max(margin, L // 16) bits past 2L) or can no longer be
    within max_complexity and the block; then each confirmed recurrence predicts the next max_check values (never
    seen by Berlekamp–Massey) and is called linear when it agrees more often than the plane's simple predictors
    would (beats_simple: a one-sided test on batch means, p < alpha). Alongside, for 16-bit values, plane 0 of every
    4th and every 8th value (lanes of 64- and 128-bit words) runs up to min(max_complexity, LANE_COMPLEXITY), and of
    each lane of every 2nd, 4th and 8th value alone up to PHASE_COMPLEXITY; where a screen's recurrence, stretched
    to the stream, passes the same check in every lane it covers, every plane not yet linear is scanned in those
    lanes (a lane's phase counts from the stream's first value: start is the index of values[0] in it). A small
    complete alphabet (a die) is also scanned as its top bits (x - lo) // q (_views); the view with more linear
    planes is kept (the values on a tie).
    """
    values = _stream(values)
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha}; use e.g. 1e-3")
    if max_complexity < 1 or margin < 1 or max_check < 0:
        raise ConfigError(f"need max_complexity >= 1, margin >= 1 and max_check >= 0, got {max_complexity}, {margin} "
                          f"and {max_check}; use the defaults ({MAX_COMPLEXITY}, 64, 1000000)")
    n_bm = min(len(values), 2 * max_complexity + int(confirm_margin(max_complexity, margin)))
    head = np.asarray(values[: min(len(values), n_bm + max_check)])
    if head.min() < 0 or head.max() > 0xFFFF:
        raise DataError(f"values must lie in 0..65535, got {head.min()}..{head.max()}; pass the uint16 stream")
    head = head.astype(np.uint16, copy=False)
    scans = [dataclasses.replace(_scan_head(_viewed16(head, view), n_bm, alpha, max_complexity, margin, max_check,
                                            len(values), start), low=view[0], div=view[1]) for view in _views(head)]
    return max(scans, key=lambda found: len(found.linear_planes))  # the first on a tie: the values themselves


def _views(head: np.ndarray) -> list[tuple[int, int]]:
    """(low, div) of the values whose bit planes are scanned: the values themselves, and for a complete alphabet
    lo..lo + d - 1 of at most FACES values with d = 2^v q, v > 0 and q > 1, also (x - lo) // q: the top v bits of
    faces scaled from the top of a source, exactly (C++'s uniform_int_distribution over a 32-bit generator throws
    lo + floor(d x / 2^32), so (throw - lo) // q is the top v bits of x; a remainder's low bits are planes already).
    """
    lo, hi = int(head.min()), int(head.max())
    d = hi - lo + 1
    twos = (d & -d).bit_length() - 1
    if d > FACES or not twos or d >> twos == 1 or len(np.unique(head)) != d:
        return [(0, 1)]
    return [(0, 1), (lo, d >> twos)]


def _scan_head(head: np.ndarray, n_bm: int, alpha: float, max_complexity: int, margin: int, max_check: int,
               n_values: int, start: int) -> LinearScan:
    """scan() of the uint16 values head (the first n_bm for Berlekamp–Massey, the rest for the check), whose first
    value is value `start` of the stream."""
    head = head.astype(np.uint16, copy=False)
    n_planes = max(1, int(head.max()).bit_length())
    cap = confirmable(n_bm, max_complexity, margin)
    rows = [_Row(j) for j in range(n_planes)]
    # Lanes only of 16-bit values: a word's slices use every bit (a die's faces come one per output). Plane 0 of
    # each lane runs in lockstep with the planes: as a screen of all lanes at once, and of each lane alone.
    lane_max = min(max_complexity, LANE_COMPLEXITY)
    lanes = _lane_caps(len(head), cap, lane_max, margin) if n_planes == 16 else {}
    phases = _phase_caps(len(head), min(max_complexity, PHASE_COMPLEXITY), margin) if n_planes == 16 else {}
    screens = [_Row(0, s) for s in lanes] + [_Row(0, s, f, False) for s in phases for f in range(s)]
    caps = [cap] * n_planes + list(lanes.values()) + [phases[s] for s in phases for _ in range(s)]
    bm = _run_bm(head, rows + screens, n_bm, caps, margin)
    planes = _check(head, rows + screens, bm, bm.confirmed, max_check, alpha, list(range(n_planes)))
    # A confirmation can be vacuous: over a constant stretch (a run of zeros at the start of a file, a sensor's high
    # bit) a recurrence of low degree holds, so Berlekamp–Massey stopped too early and may have missed a longer one
    # that is there. Those planes run again without the early stop, over every bit the scan may read (leaving a
    # quarter of a short block for the check); then L is confirmed when 2L + confirm_margin(L) <= the bits read:
    # past 2L any discrepancy would have raised L.
    again = [_Row(p.plane) for p in planes if p.confirmed and not p.linear]
    n_again = n_bm if len(head) > n_bm else 3 * len(head) // 4
    cap_again = confirmable(n_again, max_complexity, margin)
    if again and cap_again > 0:
        bm_again = _run_bm(head, again, n_again, [cap_again] * len(again), None)
        confirmed = (bm_again.L <= cap_again) & (bm_again.bits_used >= 2 * bm_again.L + confirm_margin(bm_again.L,
                                                                                                       margin))
        for p in _check(head, again, bm_again, confirmed, max_check, alpha):
            if p.linear:
                planes[p.plane] = p
    # The shortest lane whose screen is linear brings in every plane not linear yet: first the lanes together (a
    # generator linear in every bit), then one lane alone (one slice of a word linear: bit 0 of a + scrambler, the
    # low bits of an LCG's state).
    every_found = False  # a longer stride would stretch the same recurrence again; one lane alone may find more
    for i, screen in enumerate(screens, n_planes):
        rest = [p.plane for p in planes if not p.linear]
        if not rest:
            break
        if (screen.every and every_found) or not _check(head, rows + screens, bm, bm.confirmed, max_check, alpha,
                                                         [i])[0].linear:
            continue
        lane = [screen._replace(plane=j) for j in rest]
        bm_lane = _run_bm(head, lane, n_bm, [_lane_cap(len(head), screen.stride, lane_max, margin)] * len(rest),
                          margin)
        for p in _check(head, lane, bm_lane, bm_lane.confirmed, max_check, alpha):
            if p.linear:
                planes[p.plane] = p
        if not screen.every:
            break  # one lane alone per scan: a plane has one recurrence
        every_found = True
    planes = [p if p.phase is None else dataclasses.replace(p, phase=(p.phase + start) % p.stride) for p in planes]
    return LinearScan(planes, float(alpha), int(max_complexity), cap, int(margin), n_values,
                      lanes=list(lanes.items()), phases=list(phases.items()))


def _lane_cap(n_head: int, stride: int, lane_max: int, margin: int) -> int:
    """The largest L <= lane_max that a lane of every stride-th value of a block of n_head values can confirm with an
    eighth of the block left for the check."""
    return confirmable(7 * (n_head // stride) // 8, lane_max, margin)


def _lane_caps(n_head: int, cap: int, lane_max: int, margin: int) -> dict[int, int]:
    """Stride -> _lane_cap for the STRIDES whose lanes reach degrees (stride x L) beyond the planes' own cap."""
    caps = {s: _lane_cap(n_head, s, lane_max, margin) for s in STRIDES}
    return {s: c for s, c in caps.items() if s * c > cap}


def _phase_caps(n_head: int, phase_max: int, margin: int) -> dict[int, int]:
    """Stride -> _lane_cap for the PHASE_STRIDES, each of whose lanes is screened alone."""
    caps = {s: _lane_cap(n_head, s, phase_max, margin) for s in PHASE_STRIDES}
    return {s: c for s, c in caps.items() if c >= PHASE_MIN}
