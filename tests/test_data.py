import itertools
import json
import pickle
import time

import numpy as np
import pytest
import torch
from torch.utils.data import get_worker_info

from seqlib.data import (GATHER_GROUP, Split, U16Stream, WindowBatches, batch_iterator, eval_windows, fingerprint,
                         gather, load_windows, make_split, open_u16, score_from)
from seqlib.errors import ConfigError, DataError
from seqlib.tokenize import fit_tokenizer


def write(path, values):
    np.asarray(values, dtype="<u2").tofile(path)
    return path


def same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a, b))


@pytest.fixture
def ramp():
    """Values 0..19999 with an exact tokenizer, so every token equals its value and its position."""
    values = np.arange(20_000, dtype=np.uint16)
    return values, fit_tokenizer(values, kind="exact")


def epoch_starts(ds, epoch):
    """Window starts (first input token on a ramp) of every batch of one epoch, in visiting order."""
    first = epoch * ds.batches_per_epoch
    return np.concatenate([ds[i][0][:, 0].numpy() for i in range(first, first + ds.batches_per_epoch)])


# --- file validation -------------------------------------------------------------------------------------------

def assert_refused(path, *words):
    with pytest.raises(DataError) as err:
        open_u16(path)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_open_u16_refuses_a_missing_path(tmp_path):
    assert_refused(tmp_path / "nope.u16", "nope.u16", "no such file")


def test_open_u16_refuses_a_directory(tmp_path):
    assert_refused(tmp_path, "is a directory")


def test_open_u16_refuses_an_empty_file(tmp_path):
    (tmp_path / "empty.u16").write_bytes(b"")
    assert_refused(tmp_path / "empty.u16", "empty file")


def test_open_u16_refuses_an_odd_byte_count_naming_the_count_and_the_format(tmp_path):
    (tmp_path / "odd.u16").write_bytes(b"\x01\x00\x02")
    assert_refused(tmp_path / "odd.u16", "3 bytes", "little-endian uint16", "even size")


def test_open_u16_maps_little_endian_values(tmp_path):
    (tmp_path / "le.u16").write_bytes(b"\x01\x00\x00\x01\xff\xff")
    values = open_u16(tmp_path / "le.u16")
    assert isinstance(values, np.memmap)
    assert values.tolist() == [1, 256, 65535]


def test_stream_shorter_than_one_window_is_refused(tmp_path):
    stream = U16Stream(write(tmp_path / "short.u16", range(10)))
    stream.check_window(10)
    with pytest.raises(DataError, match="file has 10 values, fewer than one window of 11"):
        stream.check_window(11)


def test_stream_in_memory_and_from_array_match_the_file(tmp_path):
    values = np.random.default_rng(0).integers(0, 65536, 5000).astype(np.uint16)
    path = write(tmp_path / "s.u16", values)
    mapped, loaded, array = U16Stream(path), U16Stream(path, in_memory=True), U16Stream.from_array(values)
    assert isinstance(mapped.values, np.memmap) and not isinstance(loaded.values, np.memmap)
    assert len(mapped) == len(loaded) == len(array) == 5000
    assert np.array_equal(loaded.values, values) and np.array_equal(array.values, values)
    assert mapped.fingerprint == loaded.fingerprint == array.fingerprint == fingerprint(path)


# --- split ------------------------------------------------------------------------------------------------------

def test_split_leaves_a_gap_of_one_window_before_the_validation_block():
    split = make_split(10_000, 100, val_ratio=0.2, fingerprint="fp")
    assert (split.n_values, split.train_start, split.val_end) == (10_000, 0, 10_000)
    assert split.val_start - split.train_end == split.gap == 100
    assert split.val_end - split.val_start == 2000
    assert Split.from_dict(json.loads(json.dumps(split.to_dict()))) == split


def test_train_batches_and_validation_windows_never_overlap(ramp):
    values, tok = ramp
    split = make_split(len(values), 33, val_ratio=0.25)
    train = WindowBatches(values, split.train_start, split.train_end, seq_len=32, heads_ahead=1, batch_size=64,
                          tokenizer=tok)
    last_train = max(int(train[i][1].max()) for i in range(100))
    val = load_windows(values, eval_windows(split.val_start, split.val_end, 32, 1), 33, tok)
    assert last_train < split.train_end
    assert int(val.min()) == split.val_start and int(val.max()) < split.val_end
    assert int(val.min()) - last_train > split.gap


@pytest.mark.parametrize("n, ratio, problem", [(1000, 0.05, "validation 50"), (250, 0.5, "train 25")])
def test_split_refuses_blocks_shorter_than_one_window(n, ratio, problem):
    with pytest.raises(DataError, match=problem):
        make_split(n, 100, val_ratio=ratio)


# --- fingerprint ------------------------------------------------------------------------------------------------

def test_fingerprint_is_the_same_for_the_same_bytes(tmp_path):
    values = np.random.default_rng(1).integers(0, 65536, 3_000_000)
    a, b = write(tmp_path / "a.u16", values), write(tmp_path / "b.u16", values)
    assert fingerprint(a) == fingerprint(a) == fingerprint(b)
    assert fingerprint(write(tmp_path / "c.u16", values[:-1])) != fingerprint(a)


@pytest.mark.parametrize("offset", [0, 2_999_999 * 2 + 1])
def test_fingerprint_changes_when_a_byte_of_a_sampled_chunk_changes(tmp_path, offset):
    path = write(tmp_path / "big.u16", np.random.default_rng(2).integers(0, 65536, 3_000_000))
    before = fingerprint(path)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 1
    path.write_bytes(bytes(raw))
    assert fingerprint(path) != before


def test_a_2gb_file_opens_and_fingerprints_without_being_read(tmp_path):
    path = tmp_path / "huge.u16"
    with open(path, "wb") as f:
        f.truncate(2_000_000_000)
    t0 = time.perf_counter()
    stream = U16Stream(path)
    assert time.perf_counter() - t0 < 1.0
    assert len(stream) == 1_000_000_000 and stream.fingerprint == fingerprint(path)


def rss_file_kib():
    """File-backed resident memory of this process (mapped pages of files, the memmap's included)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


def test_gather_matches_fancy_indexing_on_a_memmap_and_on_an_array(tmp_path):
    values = np.random.default_rng(0).integers(0, 1 << 16, 100_000).astype("<u2")
    mapped = open_u16(write(tmp_path / "s.u16", values))
    starts = np.random.default_rng(1).integers(0, len(values) - 50, 3 * GATHER_GROUP + 5)
    expected = values[starts[:, None] + np.arange(50)]
    assert np.array_equal(gather(mapped, starts, 50), expected) and np.array_equal(gather(values, starts, 50), expected)


def test_batches_from_a_memmap_leave_its_pages_unmapped(tmp_path):
    n = 32 << 20  # 64 MB of values, in the page cache after writing
    path = tmp_path / "big.u16"
    np.random.default_rng(0).integers(0, 1 << 16, n, dtype=np.uint16).tofile(path)
    stream = U16Stream(path)
    data = WindowBatches(stream.values, 0, n, seq_len=256, heads_ahead=1, batch_size=64,
                         tokenizer=fit_tokenizer(stream.values, kind="quantile"))
    before = rss_file_kib()
    for i in range(20):  # 1,280 windows spread over 64 MB touch at least 5 MB of pages
        data[i]
    assert rss_file_kib() - before < 4096  # kept, they would be most of the 64 MB


# --- random batches ---------------------------------------------------------------------------------------------

def test_batch_targets_are_the_tokens_heads_ahead_of_each_input(ramp):
    values, tok = ramp
    ds = WindowBatches(values, 100, 200, seq_len=32, heads_ahead=3, batch_size=8, tokenizer=tok, mode="random")
    x, y = ds[0]
    assert x.shape == (8, 32) and y.shape == (8, 32, 3) and x.dtype == y.dtype == torch.int64
    assert torch.equal(x, x[:, :1] + torch.arange(32))
    for h in (1, 2, 3):
        assert torch.equal(y[:, :, h - 1], x + h)
    batches = [ds[i] for i in range(300)]
    assert min(int(x.min()) for x, _ in batches) == 100
    assert max(int(y.max()) for _, y in batches) == 199


def test_batch_is_a_pure_function_of_seed_rank_and_index(ramp):
    values, tok = ramp

    def make(**kw):
        return WindowBatches(values, 0, len(values), seq_len=16, heads_ahead=1, batch_size=4, tokenizer=tok,
                             noise_p=0.1, **kw)

    ds = make()
    first = ds[7]
    ds[3]
    assert same(ds[7], first) and same(make()[7], first)
    assert not same(ds[8], first)
    assert not same(make(seed=1)[7], first)
    assert not same(make(rank=1, world_size=2)[7], first)


class WorkerOnly(WindowBatches):
    """Refuses to build a batch in the main process."""

    def __getitem__(self, i):
        assert get_worker_info() is not None, "batch built in the main process"
        return super().__getitem__(i)


def test_worker_prefetch_yields_the_same_batches_as_the_main_process(ramp):
    values, tok = ramp
    kw = dict(seq_len=16, heads_ahead=2, batch_size=64, tokenizer=tok, mode="epoch", noise_p=0.1, mask_p=0.1)
    main = WindowBatches(values, 0, len(values), **kw)
    start = main.batches_per_epoch - 3  # cross into the next epoch
    expected = list(itertools.islice(batch_iterator(main, start=start), 6))
    prefetch = batch_iterator(WorkerOnly(values, 0, len(values), **kw), start=start, workers=2)
    got = list(itertools.islice(prefetch, 6))
    prefetch.close()
    assert all(same(a, b) for a, b in zip(got, expected, strict=True))


def test_dataset_pickles_a_memmap_by_reference(tmp_path):
    path = write(tmp_path / "d.u16", np.random.default_rng(3).integers(0, 6, 4_000_000))
    stream = U16Stream(path)
    ds = WindowBatches(stream.values, 0, len(stream), seq_len=16, heads_ahead=1, batch_size=4,
                       tokenizer=fit_tokenizer(stream.values))
    blob = pickle.dumps(ds)
    assert len(blob) < 2_000_000  # the file is 8 MB
    assert same(pickle.loads(blob)[5], ds[5])


@pytest.mark.parametrize("bad", [dict(mode="bogus"), dict(rank=2, world_size=2), dict(noise_p=0.6, mask_p=0.6),
                                 dict(batch_size=0)])
def test_impossible_batch_settings_are_refused(ramp, bad):
    values, tok = ramp
    kw = dict(seq_len=16, heads_ahead=1, batch_size=4, tokenizer=tok) | bad
    with pytest.raises(ConfigError):
        WindowBatches(values, 0, len(values), **kw)


# --- epoch mode -------------------------------------------------------------------------------------------------

def test_epoch_mode_visits_every_window_once_per_epoch_in_a_new_order(ramp):
    values, tok = ramp
    ds = WindowBatches(values, 0, 16 * 240 + 16, seq_len=16, heads_ahead=1, batch_size=8, tokenizer=tok, mode="epoch")
    assert ds.batches_per_epoch == 30 and ds.epoch_of(29) == 0 and ds.epoch_of(30) == 1
    epochs = [epoch_starts(ds, e) for e in range(3)]
    for starts in epochs:
        grid = np.sort(starts)
        assert len(grid) == 240 and (np.diff(grid) == 16).all() and 0 <= grid[0] < 16
        assert grid[-1] + 17 <= 16 * 240 + 16
    assert not np.array_equal(epochs[0], epochs[1])
    assert np.array_equal(epoch_starts(ds, 0), epochs[0])


def test_epoch_mode_shards_windows_disjointly_across_ranks(ramp):
    values, tok = ramp
    kw = dict(seq_len=16, heads_ahead=1, batch_size=8, tokenizer=tok, mode="epoch", seed=5)
    whole = set(epoch_starts(WindowBatches(values, 0, 16 * 240 + 16, **kw), 0))
    parts = [set(epoch_starts(WindowBatches(values, 0, 16 * 240 + 16, rank=r, world_size=3, **kw), 0))
             for r in range(3)]
    assert sum(len(p) for p in parts) == len(set.union(*parts)) == 240
    assert set.union(*parts) == whole


def test_max_samples_caps_the_windows_of_each_epoch(ramp):
    values, tok = ramp
    ds = WindowBatches(values, 0, len(values), seq_len=16, heads_ahead=1, batch_size=8, tokenizer=tok,
                       mode="epoch", max_samples=80)
    assert ds.batches_per_epoch == 10
    first, second = epoch_starts(ds, 0), epoch_starts(ds, 1)
    assert len(set(first)) == len(set(second)) == 80 and set(first) != set(second)


def test_epoch_with_fewer_windows_than_one_batch_is_refused(ramp):
    values, tok = ramp
    with pytest.raises(DataError, match="lower --batch_size"):
        WindowBatches(values, 0, 100, seq_len=16, heads_ahead=1, batch_size=8, tokenizer=tok, mode="epoch")


# --- augmentation -----------------------------------------------------------------------------------------------

def test_augmentation_hits_inputs_at_the_requested_rates_and_never_targets():
    values = np.random.default_rng(4).integers(0, 6, 50_000).astype(np.uint16)
    tok = fit_tokenizer(values)
    kw = dict(seq_len=64, heads_ahead=2, batch_size=256, tokenizer=tok, seed=3)
    clean = WindowBatches(values, 0, len(values), **kw)
    aug = WindowBatches(values, 0, len(values), noise_p=0.1, mask_p=0.05, **kw)
    pairs = [(clean[i], aug[i]) for i in range(4)]
    assert all(torch.equal(c[1], a[1]) for c, a in pairs)
    x_clean = torch.cat([c[0] for c, _ in pairs])
    x_aug = torch.cat([a[0] for _, a in pairs])
    masked = x_aug == tok.mask_token
    changed = (x_aug != x_clean) & ~masked
    n = x_aug.numel()
    for observed, p in ((masked.float().mean(), 0.05), (changed.float().mean(), 0.1 * (1 - 1 / tok.n_values))):
        assert abs(float(observed) - p) < 4 * (p * (1 - p) / n) ** 0.5
    assert int(x_aug[~masked].max()) < tok.n_values


# --- evaluation windows -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("seq_len", [16, 15])
def test_eval_windows_score_each_value_after_the_first_half_window_once(seq_len):
    starts = eval_windows(100, 1000, seq_len, 2)
    scored = np.concatenate([s + np.arange(score_from(seq_len), seq_len) for s in starts])
    assert np.array_equal(scored, np.arange(100 + score_from(seq_len), 100 + score_from(seq_len) + len(scored)))
    stride = seq_len - score_from(seq_len)
    assert starts[-1] + seq_len + 2 <= 1000 < starts[-1] + stride + seq_len + 2


def test_eval_windows_max_windows_takes_evenly_spaced_ones():
    full = eval_windows(0, 10_000, 32, 1)
    some = eval_windows(0, 10_000, 32, 1, max_windows=5)
    assert len(some) == 5 and set(some) <= set(full)
    assert some[0] == full[0] and some[-1] == full[-1]
    assert np.ptp(np.diff(some)) <= 16


def test_load_windows_gives_the_tokens_of_each_window(ramp):
    values, tok = ramp
    out = load_windows(values, np.array([5, 100]), 10, tok)
    assert out.dtype == torch.int64 and out.shape == (2, 10)
    assert out[0].tolist() == list(range(5, 15)) and out[1].tolist() == list(range(100, 110))
