"""Streaming JSON Lines, plain or ``.jsonl.gz``: read requests, append results, recover after a
crash.

Results are appended as whole lines, one ``write`` per group, flushed to the OS at once (a killed
process loses nothing written) and fsynced at checkpoints (a machine crash loses at most the
lines since the last one). A crash can still tear the last line; `recover` drops it, and rewrites
a ``.gz`` file whose last member lost its end, so that appending goes on from whole lines.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

CHECKPOINT_S = 1.0
"""Seconds between fsyncs of the output."""
CHECKPOINT_LINES = 10_000
"""Lines between fsyncs of the output."""
_READ_BYTES = 1 << 20
DUPLICATE_ID = "DUPLICATE_ID"


def is_gzip(path: Path) -> bool:
    return path.suffix == ".gz"


def _open_bytes(path: Path) -> IO[bytes]:
    if is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # GzipFile is an IO[bytes]
    return path.open("rb")


def count_lines(path: Path) -> int:
    """Lines in ``path`` (one pass over its bytes, for the progress bar)."""
    count = 0
    last = b"\n"
    with _open_bytes(path) as f:
        while block := f.read(_READ_BYTES):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number from 1, text without the newline)`` of every non-blank line."""
    with _open_bytes(path) as f:
        for number, raw in enumerate(f, 1):
            text = raw.decode("utf-8", errors="replace").strip()
            if text:
                yield number, text


@dataclass
class Recovered:
    """What an existing output file already holds (`recover`)."""

    done: set[str] = field(default_factory=set)
    """Request ids already answered."""
    duplicates: set[tuple[str, int]] = field(default_factory=set)
    """``(request_id, line)`` of the ``DUPLICATE_ID`` errors already recorded."""
    failed: Counter[str] = field(default_factory=Counter)
    """Errors already recorded, by kind."""
    lines: int = 0
    torn: bool = False
    """Whether a torn last line (or gzip member) was dropped."""


class _GzipLines:
    """The lines of every gzip member of a file that decompress, streamed; after iterating,
    ``complete`` says whether the file ended cleanly (a killed writer leaves a member open)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.complete = True

    def _blocks(self) -> Iterator[bytes]:
        inflate, open_member = zlib.decompressobj(wbits=31), False
        with self.path.open("rb") as f:
            while data := f.read(_READ_BYTES):
                while data:
                    try:
                        yield inflate.decompress(data)
                    except zlib.error:
                        self.complete = False
                        return
                    open_member, data = not inflate.eof, b""
                    if inflate.eof:
                        data, inflate = inflate.unused_data, zlib.decompressobj(wbits=31)
        self.complete = not open_member

    def __iter__(self) -> Iterator[bytes]:
        tail = b""
        for block in self._blocks():
            lines = (tail + block).split(b"\n")
            tail = lines.pop()
            yield from (line + b"\n" for line in lines)
        if tail:
            yield tail


_HEAD = re.compile(rb'^\{"request_id": ("(?:[^"\\]|\\.)*"), "line": (\d+), "(response|error)"')
"""The head of a line `record_line` wrote: read without parsing the response."""


def _read_record(raw: bytes) -> tuple[str, int, str]:
    """``(request_id, line, error kind or "")`` of an output line; raises ``ValueError``."""
    head = _HEAD.match(raw)
    if head is not None and head.group(3) == b"response":
        return str(json.loads(head.group(1))), int(head.group(2)), ""
    try:
        record: Any = json.loads(raw)
        error = record.get("error")
        kind = "" if error is None else str(error.get("kind", "ERROR"))
        return str(record["request_id"]), int(record.get("line", 0)), kind
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(str(exc)) from None


def _note(recovered: Recovered, raw: bytes, number: int, is_last: bool) -> bool:
    """Count one complete line; ``False`` for an unreadable last line (to be dropped)."""
    try:
        request_id, line, kind = _read_record(raw)
    except ValueError:
        if is_last:
            return False
        raise ValueError(
            f"line {number} of the output is not a batch result: {raw[:80]!r}"
        ) from None
    if kind == DUPLICATE_ID:
        recovered.duplicates.add((request_id, line))
    else:
        recovered.done.add(request_id)
    if kind:
        recovered.failed[kind] += 1
    recovered.lines += 1
    return True


def _recover_plain(path: Path, recovered: Recovered) -> None:
    keep = 0
    with path.open("rb") as f:
        for number, (line, is_last) in enumerate(_lookahead(f), 1):
            if not line.endswith(b"\n") or not _note(recovered, line, number, is_last):
                break
            keep += len(line)
    if keep < path.stat().st_size:
        recovered.torn = True
        os.truncate(path, keep)


def _recover_gzip(path: Path, recovered: Recovered) -> None:
    lines = _GzipLines(path)
    kept = 0
    for number, raw in enumerate(_lookahead(lines), 1):
        line, is_last = raw
        if not line.endswith(b"\n") or not _note(recovered, line, number, is_last):
            recovered.torn = True
            break
        kept += 1
    if lines.complete and not recovered.torn:
        return
    recovered.torn = True
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as raw_file:
        with gzip.GzipFile(fileobj=raw_file, mode="wb") as gz:
            for _, line in zip(range(kept), _GzipLines(path), strict=False):
                gz.write(line)
        raw_file.flush()
        os.fsync(raw_file.fileno())
    os.replace(partial, path)


def _lookahead(lines: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """``(line, is_last)`` for each line."""
    iterator = iter(lines)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following is None
        current = following


def recover(path: Path) -> Recovered:
    """Read an existing output file: the ids answered and errors recorded; a torn last line
    (or gzip member) is dropped from the file."""
    recovered = Recovered()
    if path.exists():
        (_recover_gzip if is_gzip(path) else _recover_plain)(path, recovered)
    return recovered


class Appender:
    """Appends whole lines to ``path`` (gzip by suffix): each `write` reaches the OS at once,
    and is fsynced at checkpoints (every `CHECKPOINT_S` seconds or `CHECKPOINT_LINES` lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = path.open("ab")
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="ab") if is_gzip(path) else None
        self._synced_at = time.monotonic()
        self._unsynced = 0

    def write(self, lines: Sequence[str | bytes]) -> None:
        """Append ``lines`` (each ending in a newline; text, or UTF-8 bytes) in one write, and
        flush."""
        if not lines:
            return
        data = b"".join(x if isinstance(x, bytes) else x.encode("utf-8") for x in lines)
        if self._gz is not None:
            self._gz.write(data)
            self._gz.flush()  # Z_SYNC_FLUSH: everything so far decompresses
        else:
            self._raw.write(data)
        self._raw.flush()
        self._unsynced += len(lines)
        if self._unsynced >= CHECKPOINT_LINES or time.monotonic() - self._synced_at >= CHECKPOINT_S:
            self.checkpoint()

    def checkpoint(self) -> None:
        os.fsync(self._raw.fileno())
        self._synced_at, self._unsynced = time.monotonic(), 0

    def close(self) -> None:
        if self._gz is not None:
            self._gz.close()
        self._raw.flush()
        self.checkpoint()
        self._raw.close()

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
