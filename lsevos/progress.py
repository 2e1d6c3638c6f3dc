"""Progress of long steps: a tqdm bar (rate and ETA) on a terminal, a line per 10% in logs.

`Meter(total, what)` is advanced with `update(n)`; `close()` emits the last line with the rate. When
`emit` prints to stderr (the default, or a function marked `to_stderr = True`) and stderr is a terminal,
it draws a tqdm bar there; otherwise (Snakemake logs, CI, pipes, a collecting `emit`) it emits
`what: k/total (p%), r unit/s, ETA m:ss` each time another 10% is done, so a log shows how far a job got
and how long the rest takes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

Progress = Callable[[str], None]
"""Where long steps report: a function taking one line of text."""
LOG_STEP = 0.10


def clock(seconds: float) -> str:
    """h:mm:ss (or m:ss under an hour)."""
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


_stderr.to_stderr = True  # type: ignore[attr-defined]


class Meter:
    def __init__(
        self, total: int, what: str, unit: str = "it", emit: Callable[[str], None] | None = None
    ) -> None:
        self.total, self.what, self.unit = max(1, int(total)), what, unit
        self.emit = _stderr if emit is None else emit
        self.done = 0
        self.note = ""
        self.started = time.perf_counter()
        self.next_line = LOG_STEP
        self.bar = None
        if getattr(self.emit, "to_stderr", False) and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=what, unit=unit, file=sys.stderr, leave=True)

    def rate(self) -> float:
        return self.done / max(time.perf_counter() - self.started, 1e-9)

    def update(self, count: int = 1, note: str = "") -> None:
        """Advance by `count`; `note` (e.g. the loss) is shown with the bar or the next log line."""
        self.done += count
        self.note = note
        if self.bar is not None:
            self.bar.update(count)
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            return
        share = self.done / self.total
        if share + 1e-9 >= self.next_line and self.done < self.total:
            eta = (self.total - self.done) / max(self.rate(), 1e-9)
            suffix = f", {note}" if note else ""
            self.emit(
                f"{self.what}: {self.done}/{self.total} ({share:.0%}), {self.rate():.2f} {self.unit}/s, "
                f"ETA {clock(eta)}{suffix}"
            )
            while self.next_line <= share + 1e-9:
                self.next_line += LOG_STEP

    def close(self, summary: bool = True) -> str:
        """Finish; returns the summary line (count, time, rate) and emits it unless `summary` is False."""
        if self.bar is not None:
            self.bar.close()
        seconds = time.perf_counter() - self.started
        suffix = f", {self.note}" if self.note else ""
        line = (
            f"{self.what}: {self.done} {self.unit}{'' if self.done == 1 else 's'} in {clock(seconds)} "
            f"({self.rate():.2f} {self.unit}/s)"
            f"{suffix}"
        )
        if summary:
            self.emit(line)
        return line
