"""Input formats: each round-trips to the same values, each bad input gets one line naming the item and its position,
conversion is cached per version of the file and runs in bounded memory."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from seqlib import formats
from seqlib.cli import main
from seqlib.data import U16Stream, fingerprint, open_u16
from seqlib.errors import DataError
from seqlib.formats import FORMATS, as_u16, convert

ROOT = Path(__file__).resolve().parents[1]
SEPARATORS = [" ", "\n", "\t", "  ", "\r\n", " \n "]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Conversions go to a fresh cache folder, not the user's."""
    monkeypatch.setenv("SEQLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_text(path, values, seed=0):
    seps = np.random.default_rng(seed).choice(SEPARATORS, len(values))
    path.write_text("".join(f"{v}{s}" for v, s in zip(values, seps)))
    return path


def write(path, values, format):
    """values in `format` at path (text ends without a newline, to check that the last token is read)."""
    values = np.asarray(values)
    if format == "text":
        path.write_text(write_text(path, values).read_text().rstrip())
    elif format == "npy":
        np.save(path, values)  # path ends in .npy, so np.save adds no suffix
    else:
        values.astype(formats.RAW_DTYPES[format]).tofile(path)
    return path


def error(path, format):
    with pytest.raises(DataError) as e:
        convert(path, path.with_suffix(".out.u16"), format)
    message = str(e.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize("format", list(FORMATS))
def test_each_format_converts_to_the_same_values_across_chunk_boundaries(tmp_path, monkeypatch, format):
    monkeypatch.setattr(formats, "CHUNK_VALUES", 1000)
    monkeypatch.setattr(formats, "TEXT_BLOCK", 777)  # tokens split across blocks at every offset
    top = 256 if format == "u8" else 65536
    values = np.random.default_rng(1).integers(0, top, 5_003)
    values[:3] = [0, top - 1, 7]
    src = write(tmp_path / f"in.{format}", values, format)
    assert convert(src, tmp_path / "out.u16", format) == len(values)
    assert np.array_equal(open_u16(tmp_path / "out.u16"), values)


@pytest.mark.parametrize("dtype", ["u1", "<u2", ">u2", "<i2", ">i4", "<i8", "<u8"])
def test_npy_of_any_integer_dtype_converts_when_the_values_fit(tmp_path, dtype):
    values = np.array([0, 1, 127, min(np.iinfo(dtype).max, 65535)], dtype=dtype)
    np.save(tmp_path / "a.npy", values)
    convert(tmp_path / "a.npy", tmp_path / "a.u16", "npy")
    assert np.array_equal(open_u16(tmp_path / "a.u16"), values.astype(np.int64))


@pytest.mark.parametrize("block", [1, 2, 3, 5, 64])
def test_text_reads_the_same_values_whatever_the_block_size(tmp_path, monkeypatch, block):
    monkeypatch.setattr(formats, "TEXT_BLOCK", block)
    values = [12, 0, 65535, 301, 5, 40000, 9]
    src = write_text(tmp_path / "t.txt", values, seed=block)
    convert(src, tmp_path / "t.u16", "text")
    assert open_u16(tmp_path / "t.u16").tolist() == values


@pytest.mark.parametrize("block", [1 << 20, 100])
def test_text_error_names_the_first_non_integer_its_item_and_line(tmp_path, monkeypatch, block):
    monkeypatch.setattr(formats, "TEXT_BLOCK", block)
    values = [str(v % 10) for v in range(2_000)]
    values[1_234], values[1_500] = "12a", "x"
    lines = [" ".join(values[i:i + 10]) for i in range(0, len(values), 10)]  # item 1,234 is on line 124
    (tmp_path / "rolls.txt").write_text("\n".join(lines))
    message = error(tmp_path / "rolls.txt", "text")
    assert "item 1,234 (0-based) on line 124 is '12a', not an integer" in message


@pytest.mark.parametrize("token", ["-1", "65536", "99999999999999999999"])
def test_text_error_names_a_value_outside_uint16(tmp_path, token):
    (tmp_path / "r.txt").write_text(f"1 2\n3 {token} 4\n")
    assert f"item 3 (0-based) on line 2 is {token}, outside 0..65535" in error(tmp_path / "r.txt", "text")


@pytest.mark.parametrize("token", ["1.5", "1e3", "0x10", "½"])
def test_text_refuses_numbers_that_are_not_plain_integers(tmp_path, token):
    (tmp_path / "r.txt").write_text(f"7 {token}")
    assert f"item 1 (0-based) on line 1 is '{token}', not an integer" in error(tmp_path / "r.txt", "text")


def test_text_refuses_an_endless_token_without_reading_it_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "TEXT_BLOCK", 1000)
    (tmp_path / "r.txt").write_text("5 " + "1" * 100_000)
    assert "item 1 (0-based) on line 1 is '11111111111111111111...', not an integer" in error(tmp_path / "r.txt",
                                                                                                "text")


def test_text_of_whitespace_only_holds_no_values(tmp_path):
    (tmp_path / "r.txt").write_text(" \n\t\n")
    assert "holds no values" in error(tmp_path / "r.txt", "text")


def test_npy_error_names_the_first_value_outside_uint16_and_its_item(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "CHUNK_VALUES", 100)
    values = np.arange(1_000, dtype=np.int64)
    values[345], values[800] = 70_000, -1
    np.save(tmp_path / "v.npy", values)
    assert "item 345 (0-based) is 70000, outside 0..65535" in error(tmp_path / "v.npy", "npy")


def test_npy_refuses_an_array_that_is_not_1d_naming_its_shape(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros((10, 3), dtype=np.uint16))
    assert "shape (10, 3) is not 1-D" in error(tmp_path / "v.npy", "npy")


@pytest.mark.parametrize("values", [np.array([1.0, 2.0]), np.array([True, False]), np.array([1, "a"], dtype=object)])
def test_npy_refuses_a_dtype_that_is_not_integer_naming_it(tmp_path, values):
    np.save(tmp_path / "v.npy", values, allow_pickle=True)
    assert f"dtype {values.dtype} is not an integer type" in error(tmp_path / "v.npy", "npy")


def test_npy_refuses_a_file_that_is_not_npy_or_is_truncated(tmp_path):
    (tmp_path / "v.npy").write_bytes(b"hello world")
    assert "not a .npy file" in error(tmp_path / "v.npy", "npy")
    np.save(tmp_path / "w.npy", np.arange(100, dtype=np.uint16))
    (tmp_path / "w.npy").write_bytes((tmp_path / "w.npy").read_bytes()[:-10])
    assert "truncated" in error(tmp_path / "w.npy", "npy")


@pytest.mark.parametrize("format", ["u16le", "u16be"])
def test_a_16_bit_file_of_odd_size_names_the_byte_count(tmp_path, format):
    (tmp_path / "r.bin").write_bytes(b"\x01" * 7)
    assert "has 7 bytes, an odd count" in error(tmp_path / "r.bin", format)


@pytest.mark.parametrize("format", list(FORMATS))
def test_every_format_refuses_an_empty_or_missing_file(tmp_path, format):
    (tmp_path / "empty").write_bytes(b"")
    assert "empty file" in error(tmp_path / "empty", format)
    assert "no such file" in error(tmp_path / "missing", format)


def test_an_unknown_format_names_the_known_ones(tmp_path):
    (tmp_path / "r.bin").write_bytes(b"\x01\x02")
    with pytest.raises(DataError, match="unknown format 'csv'; use one of u16le, u16be, u8, npy, text"):
        as_u16(tmp_path / "r.bin", "csv")


def test_a_failed_conversion_leaves_no_output_behind(tmp_path):
    (tmp_path / "r.txt").write_text("1 2 3 oops")
    error(tmp_path / "r.txt", "text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]


def test_a_stream_in_another_format_reads_its_conversion_with_the_values_fingerprint(tmp_path, cache):
    values = np.random.default_rng(2).integers(0, 6, 3_000)
    raw = tmp_path / "r.u16"
    values.astype("<u2").tofile(raw)
    stream = U16Stream(write_text(tmp_path / "r.txt", values), format="text")
    assert np.array_equal(stream.values, values) and stream.path == str(tmp_path / "r.txt")
    assert stream.fingerprint == fingerprint(raw)  # so the .u16 conversion is recognised as the training file
    assert Path(stream.values.filename).parent == cache
    assert np.array_equal(U16Stream(tmp_path / "r.txt", format="text", in_memory=True).values, values)


def test_conversion_is_made_once_per_version_of_the_file(tmp_path, cache, monkeypatch):
    made = []
    monkeypatch.setattr(formats, "convert", lambda *args, convert=formats.convert: made.append(args) or convert(*args))
    src = write_text(tmp_path / "r.txt", [1, 2, 3])
    first = as_u16(src, "text")
    assert as_u16(src, "text") == first and len(made) == 1
    src.write_text("4 5 6 7")
    os.utime(src, ns=(1, 10**18))  # a new version, even within the file system's time resolution
    second = as_u16(src, "text")
    assert len(made) == 2 and not first.exists() and open_u16(second).tolist() == [4, 5, 6, 7]
    assert as_u16(tmp_path / "x.u16", "u16le") == tmp_path / "x.u16"  # the native format is used in place


def test_convert_command_writes_the_values_and_refuses_to_overwrite(tmp_path, capsys):
    src = write(tmp_path / "r.u8", [1, 2, 250], "u8")
    assert main(["convert", str(src), str(tmp_path / "r.u16"), "--format", "u8"]) == 0
    assert "wrote 3 values" in capsys.readouterr().out and open_u16(tmp_path / "r.u16").tolist() == [1, 2, 250]
    assert main(["convert", str(src), str(tmp_path / "r.u16"), "--format", "u8"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["convert", str(src), str(tmp_path / "r.u16"), "--format", "u8", "--force"]) == 0


def test_convert_command_exits_2_with_one_line_naming_the_bad_item(tmp_path, capsys):
    (tmp_path / "rolls.txt").write_text("1 2\n3 12a\n")
    assert main(["convert", str(tmp_path / "rolls.txt"), str(tmp_path / "r.u16"), "--format", "text"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "item 3 (0-based) on line 2 is '12a'" in err and "\n" not in err
    assert not (tmp_path / "r.u16").exists()


def test_train_evaluate_and_predict_read_a_stream_by_its_format(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    values = np.random.default_rng(3).integers(0, 4, 20_000)
    np.save(tmp_path / "r.npy", values.astype(np.int32))
    assert main(["train", "--u16_path", "r.npy", "--format", "npy", "--d_model", "16", "--nlayers", "1", "--nhead",
                 "2", "--seq_len", "16", "--batch", "8", "--max_steps", "2", "--eval_every", "2", "--eval_windows",
                 "4", "--ckpt", "m.pt", "--no-progress"]) == 0
    assert main(["evaluate", "--u16_path", "r.npy", "--format", "npy", "--ckpt", "m.pt", "--max_samples", "200"]) == 0
    assert json.loads((tmp_path / "m" / "eval.json").read_text())["block"] == "held-out block of the training file"
    capsys.readouterr()
    assert main(["predict", "--u16_path", "r.npy", "--format", "npy", "--ckpt", "m.pt", "--idx", "100"]) == 0
    assert f"truth {values[100]} (rank" in capsys.readouterr().out


MEMORY_PROBE = textwrap.dedent("""
    import sys
    from seqlib.formats import convert

    def peak_kb():
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])

    before = peak_kb()
    convert(sys.argv[1], sys.argv[2], sys.argv[3])
    print(peak_kb() - before)
""")


def make_large(path, format, size):
    """A file of about `size` bytes in `format`, written in pieces (this process stays small too)."""
    rng = np.random.default_rng(0)
    if format == "npy":
        n = size // 8
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.int64, shape=(n,))
        for i in range(0, n, 1 << 22):
            out[i:i + (1 << 22)] = rng.integers(0, 65536, min(1 << 22, n - i))
        out.flush()
        del out
        return
    with open(path, "wb") as f:
        while f.tell() < size:
            chunk = rng.integers(0, 256 if format == "u8" else 65536, 1 << 22)
            f.write(chunk.astype("u1").tobytes() if format == "u8" else
                    ("\n".join(map(str, chunk)) + "\n").encode())


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc")
@pytest.mark.parametrize("format, size", [("u8", 200_000_000), ("npy", 200_000_000), ("text", 100_000_000)])
def test_conversion_memory_stays_bounded_for_a_large_file(tmp_path, format, size):
    src = tmp_path / f"big.{format}"
    make_large(src, format, size)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(src), str(tmp_path / "big.u16"), format],
                           capture_output=True, text=True, env=env, timeout=600)
    assert probe.returncode == 0, probe.stderr
    growth_mb = int(probe.stdout) / 1024
    assert growth_mb < 64, f"peak RSS grew by {growth_mb:.0f} MB converting {src.stat().st_size / 1e6:.0f} MB"
    assert (tmp_path / "big.u16").stat().st_size > 0
