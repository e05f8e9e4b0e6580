"""`run_batch`: a JSONL file of `SolveRequest` in, a JSONL file of results out, resumable.

Each output line is ``{"request_id": ..., "line": N, "response": {SolveResponse}}`` or
``{"request_id": ..., "line": N, "error": {"kind": ..., "field": ..., "message": ...}}``. A
request without an id is known by its line number.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ._jsonl import DUPLICATE_ID, Appender, Recovered, count_lines, read_lines, recover
from ._work import BatchError, Outcome, Payload, Tag

if TYPE_CHECKING:
    from . import Engine

FLUSH_LINES = 256
FLUSH_S = 0.1
"""Results are written in groups of at most this many lines or this long a wait."""


@dataclass
class Summary:
    """What a `run_batch` did, and what the output file holds."""

    out: Path
    lines: int = 0
    """Non-blank input lines."""
    solved: int = 0
    """Responses written by this run."""
    skipped: int = 0
    """Lines already answered in the output (an earlier, interrupted run)."""
    failed: Counter[str] = field(default_factory=Counter)
    """Errors by kind in the whole output file (earlier runs included)."""
    first: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    """The first error of each kind in this run: ``(line, field, message)``."""
    torn: bool = False
    """A torn last line of an earlier run was dropped."""

    @property
    def ok(self) -> bool:
        return not self.failed

    def report(self) -> str:
        """A few lines for people: counts, and errors by kind with the first of each."""
        failed = sum(self.failed.values())
        text = [
            f"batch: {self.lines} lines -> {self.out}: {self.solved} solved, "
            f"{self.skipped} already answered, {failed} failed"
            + (" (dropped a torn last line)" if self.torn else "")
        ]
        for kind, count in self.failed.most_common():
            line = f"  {kind}: {count}"
            if kind in self.first:
                number, at, message = self.first[kind]
                line += f"; first at line {number}" + (f", field {at}" if at else "")
                line += f": {message[:160]}"
            text.append(line)
        return "\n".join(text)


def _identify(text: str, number: int) -> tuple[str, BatchError | None]:
    """The request id of a line (its number when it has none), or why the line is bad."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        return str(number), BatchError("PARSE_ERROR", "", f"not JSON: {exc}")
    if not isinstance(record, dict):
        return str(number), BatchError("PARSE_ERROR", "", "not a JSON object")
    request_id = record.get("request_id", record.get("requestId", ""))
    if not isinstance(request_id, str):
        message = f"request_id: must be a string; got {request_id!r}"
        return str(number), BatchError("PARSE_ERROR", "request_id", message)
    return request_id or str(number), None


def record_line(request_id: str, number: int, outcome: Outcome) -> bytes:
    """One output line, UTF-8 (a response's JSON is copied, not decoded and encoded again)."""
    head = f'{{"request_id": {json.dumps(request_id)}, "line": {number}, '
    if isinstance(outcome, BatchError):
        error = {"kind": outcome.kind, "field": outcome.field, "message": outcome.message}
        return (head + f'"error": {json.dumps(error)}}}\n').encode()
    text = outcome if isinstance(outcome, bytes) else outcome.encode()
    return b"".join((head.encode(), b'"response": ', text, b"}\n"))


class _Run:
    """One pass over the input: the tasks for the engine, the lines for the output."""

    def __init__(self, source: Path, recovered: Recovered, summary: Summary) -> None:
        self.source = source
        self.recovered = recovered
        self.summary = summary
        self.seen: set[str] = set()
        self.bad: list[bytes] = []
        """Lines for input the engine never sees, written between results."""

    def fail(self, request_id: str, number: int, error: BatchError) -> bytes:
        self.summary.failed[error.kind] += 1
        self.summary.first.setdefault(error.kind, (number, error.field, error.message))
        return record_line(request_id, number, error)

    def tasks(self) -> Iterator[tuple[Tag, Payload]]:
        for number, text in read_lines(self.source):
            self.summary.lines += 1
            request_id, error = _identify(text, number)
            if request_id in self.seen:
                if (request_id, number) in self.recovered.duplicates:
                    self.summary.skipped += 1
                else:
                    message = f"request_id {request_id!r} appears on an earlier line"
                    error = BatchError(DUPLICATE_ID, "request_id", message)
                    self.bad.append(self.fail(request_id, number, error))
                continue
            self.seen.add(request_id)
            if request_id in self.recovered.done:
                self.summary.skipped += 1
            elif error is not None:
                self.bad.append(self.fail(request_id, number, error))
            else:
                yield (request_id, number), text

    def result(self, tag: Tag, outcome: Outcome) -> bytes:
        request_id, number = cast(tuple[str, int], tag)
        if isinstance(outcome, BatchError):
            return self.fail(request_id, number, outcome)
        self.summary.solved += 1
        return record_line(request_id, number, outcome)


def _progress(enabled: bool, source: Path) -> AbstractContextManager[Any]:
    """A progress bar on stderr (count, rate, ETA), or nothing."""
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f}/s" if speed else "-/s", style="progress.data.speed")

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate())
    progress = Progress(
        *columns, TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True)
    )
    progress.add_task(source.name, total=count_lines(source))
    return progress


def run_batch(
    source: str | Path,
    out: str | Path,
    *,
    engine: str | Engine = "local",
    workers: int | None = None,
    progress: bool = False,
    **options: Any,
) -> Summary:
    """Solve every request of the JSONL file ``source`` into ``out`` (see the module docstring).

    Resumable: requests already answered in ``out`` are skipped and the rest appended; a torn
    last line left by a crash is dropped first. ``options`` go to `make_engine`.
    """
    from . import make_engine

    source, out = Path(source), Path(out)
    recovered = recover(out)
    summary = Summary(out, failed=Counter(recovered.failed), torn=recovered.torn)
    run = _Run(source, recovered, summary)
    solver = make_engine(engine, workers, **options)
    with Appender(out) as appender, _progress(progress, source) as bar:
        pending: list[bytes] = []
        written = 0
        flushed = time.monotonic()

        def flush() -> None:
            nonlocal flushed, written
            pending.extend(run.bad)
            run.bad.clear()
            appender.write(pending)
            written += len(pending)
            if bar is not None:
                bar.update(bar.task_ids[0], completed=summary.skipped + written)
            pending.clear()
            flushed = time.monotonic()

        for tag, outcome in solver.run(run.tasks()):
            pending.append(run.result(tag, outcome))
            if len(pending) >= FLUSH_LINES or time.monotonic() - flushed >= FLUSH_S:
                flush()
        flush()
    return summary
