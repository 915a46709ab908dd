"""Input formats: read a stream in any of FORMATS, chunk by chunk, and convert it to raw little-endian uint16.

Everything past this module sees one kind of file, a .u16 memory-mapped as "<u2". A file in another format is
converted once (`as_u16`) into the cache folder, keyed by its path, size and modification time. That costs one
pass and 2 bytes per value of disk, and buys one code path: DataLoader workers reopen the cache by name, and the
fingerprint is that of the values, so a run trained on rolls.txt recognises rolls.u16 (its conversion) as its
training file. Memory stays bounded whatever the input's size: raw and .npy files are read CHUNK_VALUES values
at a time, text TEXT_BLOCK bytes at a time.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import sys
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from .errors import DataError

FORMATS = {
    "u16le": "raw uint16, little-endian, no header (the native format)",
    "u16be": "raw uint16, big-endian",
    "u8": "one byte per value (the NIST SP 800-90B tool's format)",
    "npy": "a 1-D NumPy array of integers in 0..65535 (np.save)",
    "text": "integers in 0..65535 separated by spaces or newlines",
}
RAW_DTYPES = {"u16le": np.dtype("<u2"), "u16be": np.dtype(">u2"), "u8": np.dtype("u1")}
CHUNK_VALUES = 1 << 20  # values per chunk of a raw or .npy file: 8 MB of int64
TEXT_BLOCK = 1 << 20  # bytes of text parsed at once
MAX_TOKEN = 8192  # bytes: int() reads at most 4,300 digits, so a longer token is no integer; bounds the carry
U16_MAX = 65535


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise DataError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")


def _source(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise DataError(f"{p} is a directory; pass the path of a file inside it")
    if p.stat().st_size == 0:
        raise DataError(f"{p} is an empty file (0 bytes); pass a file that holds values")
    return p


def _shown(token: bytes) -> str:
    text = token.decode("utf-8", "replace")
    return text if len(text) <= 20 else text[:20] + "..."


def _raw_chunks(path: Path, format: str) -> Iterator[np.ndarray]:
    dtype = RAW_DTYPES[format]
    size = path.stat().st_size
    if size % dtype.itemsize:
        raise DataError(f"{path} has {size} bytes, an odd count; a {format} file holds 2 bytes per value "
                        f"(check that it is not truncated, or pass its format with --format)")
    with open(path, "rb") as f:
        while (chunk := np.fromfile(f, dtype, count=CHUNK_VALUES)).size:
            yield chunk.astype("<u2", copy=False)


def _npy_header(path: Path, f: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}[version]
        shape, _, dtype = read(f)
    except (ValueError, KeyError) as e:
        raise DataError(f"{path} is not a .npy file of format 1.0 or 2.0 ({e}); write it with np.save") from e
    return shape, dtype


def _npy_chunks(path: Path) -> Iterator[np.ndarray]:
    # read through the file, not np.load(mmap_mode="r"): pages of a memmap read once stay in RSS
    with open(path, "rb") as f:
        shape, dtype = _npy_header(path, f)
        if len(shape) != 1:
            raise DataError(f"{path}: array of shape {shape} is not 1-D; save the stream as one row of values "
                            f"(np.save(path, a.ravel()))")
        if dtype.kind not in "iu":
            raise DataError(f"{path}: dtype {dtype} is not an integer type; save the values as integers "
                            f"(np.save(path, a.astype(np.uint16)) after checking that they are whole numbers)")
        n, done = shape[0], 0
        if n == 0:
            raise DataError(f"{path} holds an empty array; pass an array of at least one window of values")
        while done < n:
            chunk = np.fromfile(f, dtype, count=min(CHUNK_VALUES, n - done))
            if chunk.size == 0:
                raise DataError(f"{path} ends after {done:,} of its {n:,} values; the file is truncated")
            if not np.can_cast(dtype, "<u2"):
                bad = np.flatnonzero((chunk < 0) | (chunk > U16_MAX))
                if bad.size:
                    raise DataError(f"{path}: item {done + bad[0]:,} (0-based) is {chunk[bad[0]]}, outside "
                                    f"0..{U16_MAX}; clip or rescale the values to uint16")
            done += chunk.size
            yield chunk.astype("<u2")


def _is_u16(token: bytes) -> bool:
    try:
        return 0 <= int(token) <= U16_MAX
    except ValueError:
        return False


def _text_error(path: Path, block: bytes, k: int, item: int, line: int) -> DataError:
    """The one-line error for token k of a block that starts at stream item `item`, on line `line`."""
    match = next(m for i, m in enumerate(re.finditer(rb"\S+", block)) if i == k)
    token, line = match.group(), line + block.count(b"\n", 0, match.start())
    where = f"{path}: item {item + k:,} (0-based) on line {line:,}"
    try:
        int(token)
    except ValueError:
        return DataError(f"{where} is '{_shown(token)}', not an integer; a text stream holds whole numbers in "
                         f"0..{U16_MAX} separated by spaces or newlines")
    return DataError(f"{where} is {_shown(token)}, outside 0..{U16_MAX}; clip or rescale the values to uint16")


def _text_chunks(path: Path) -> Iterator[np.ndarray]:
    item, line, carry = 0, 1, b""  # where the next block starts: stream item and line number
    with open(path, "rb") as f:
        while True:
            data = f.read(TEXT_BLOCK)
            block = carry + data
            tokens = block.split()
            # the last token may go on in the next block; whitespace never does, so the carry holds no newline
            carry = tokens.pop() if data and tokens and not block[-1:].isspace() else b""
            if len(carry) > MAX_TOKEN:
                raise _text_error(path, block, len(tokens), item, line)
            block = block[:len(block) - len(carry)]
            try:
                values = np.fromiter(map(int, tokens), dtype=np.int64, count=len(tokens))
            except (ValueError, OverflowError):  # not an integer, or beyond int64
                values = None
            if values is None or ((values < 0) | (values > U16_MAX)).any():
                k = next(i for i, token in enumerate(tokens) if not _is_u16(token))
                raise _text_error(path, block, k, item, line)
            if values.size:
                yield values.astype("<u2")
            item, line = item + len(tokens), line + block.count(b"\n")
            if not data:
                break
    if item == 0:
        raise DataError(f"{path} holds no values, only whitespace; pass a file of integers")


def read_chunks(path: str | os.PathLike, format: str) -> Iterator[np.ndarray]:
    """The values of a file in `format`, validated, as "<u2" arrays of bounded size; DataError at the first bad item."""
    _check_format(format)
    p = _source(path)
    if format in RAW_DTYPES:
        return _raw_chunks(p, format)
    return _npy_chunks(p) if format == "npy" else _text_chunks(p)


def convert(src: str | os.PathLike, dst: str | os.PathLike, format: str) -> int:
    """Write the values of src (in `format`) to dst as raw little-endian uint16; return how many were written.

    dst appears only when the whole file converted: a bad item leaves no partial output behind.
    """
    src, dst = Path(src), Path(dst)
    chunks = read_chunks(src, format)  # a missing source fails here, before dst's folder is made
    if dst.exists() and dst.resolve() == src.resolve():
        raise DataError(f"{dst} is the input file; write the conversion to another path")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    n = 0
    try:
        with open(tmp, "wb") as out:
            for chunk in chunks:
                chunk.tofile(out)
                n += chunk.size
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def cache_dir() -> Path:
    """Where converted streams are kept: $SEQLIB_CACHE, else $XDG_CACHE_HOME/seqlib (~/.cache/seqlib)."""
    if os.environ.get("SEQLIB_CACHE"):
        return Path(os.environ["SEQLIB_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqlib"


def as_u16(path: str | os.PathLike, format: str = "u16le") -> Path:
    """A .u16 file holding the values of path: path itself for u16le, else its conversion in cache_dir().

    The conversion is made once per version (size and modification time) of the file; older ones are removed.
    """
    _check_format(format)
    if format == "u16le":
        return Path(path)
    src = _source(path)
    stat = src.stat()
    key = hashlib.blake2b(str(src.resolve()).encode(), digest_size=6).hexdigest()
    prefix = f"{src.name}.{key}"
    dst = cache_dir() / f"{prefix}.{stat.st_size}-{stat.st_mtime_ns}.{format}.u16"
    if not dst.exists():
        for stale in cache_dir().glob(f"{glob.escape(prefix)}.*.u16"):
            stale.unlink(missing_ok=True)
        print(f"converting {src} ({format}) once into {dst}", file=sys.stderr, flush=True)
        # ranks of a distributed run may convert at the same time: each writes its own temporary file, then renames
        convert(src, dst, format)
    return dst


def _convert_command(args: argparse.Namespace) -> None:
    src, dst = Path(args.input), Path(args.output)
    if dst.exists() and not args.force:
        raise DataError(f"{dst} exists; pass --force to overwrite it, or choose another output path")
    n = convert(src, dst, args.format)
    print(f"wrote {n:,} values from {src} ({args.format}) to {dst}")


def register(sub: argparse._SubParsersAction) -> None:
    """The `seqlib convert IN OUT --format F` subcommand."""
    p = sub.add_parser("convert", help="convert a stream in another format to a .u16 file",
                       description="Convert a stream to raw little-endian uint16 (.u16), in bounded memory. Formats: "
                                   + "; ".join(f"{k}: {v}" for k, v in FORMATS.items()))
    p.add_argument("input", help="the stream to convert")
    p.add_argument("output", help="the .u16 file to write")
    p.add_argument("--format", required=True, choices=list(FORMATS), help="the input's format")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.set_defaults(func=_convert_command)
