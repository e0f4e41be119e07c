"""Progress for long loops (fold, benchmark, search, data build, library build): a tqdm bar with rate
and ETA when stderr is a terminal, plain lines otherwise (logs, pipes, cluster job files).

    bar = progress(total=len(records), desc="fold", unit="record")
    for record in records:
        ...
        bar.update(note=f"{record.id} ok 1.2 s")   # the bar's postfix, or one plain line
    bar.close()

Plain lines look like `fold: 3/100 records (3.0 %) 0.52 record/s, ETA 3 min 6 s: 1ABC_A ok 1.9 s`
and come at most every `every_s` seconds (and for the last item), so a log of a proteome run stays
readable. Nothing is printed when `enabled` is False (--quiet).

Items that differ in cost (records of 50 and 1,000 residues) give `work`, the total in any unit, and
each update says how much of it was done; the bar's fill and the ETA then follow the work instead of
the count (the count is still shown). Work that turns out not to be needed (a record skipped because
an earlier run finished it) is taken off with drop().
"""
from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class PlainProgress:
    """One line per step (at most every `every_s` seconds) with count, rate and ETA."""

    def __init__(self, total: int | None, desc: str, unit: str, stream, every_s: float = 0.0,
                 work: float | None = None):
        self.total, self.desc, self.unit, self.stream, self.every_s = total, desc, unit, stream, every_s
        self.count, self.started, self._last = 0, time.perf_counter(), float("-inf")
        self.work, self.work_done = work, 0.0

    def drop(self, work: float) -> None:
        if self.work is not None:
            self.work -= work

    def update(self, n: int = 1, note: str = "", work: float | None = None) -> None:
        self.count += n
        self.work_done += n if work is None else work
        now = time.perf_counter()
        last = self.total is not None and self.count >= self.total
        if not last and now - self._last < self.every_s:
            return
        self._last = now
        elapsed = now - self.started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if self.total:
            text = f"{self.desc}: {self.count}/{self.total} {self.unit}s ({100 * self.count / self.total:.1f} %)"
            eta = _eta(elapsed, self.work_done, self.total - self.count if self.work is None
                       else self.work - self.work_done)
            text += f" {rate:.2f} {self.unit}/s, ETA {_duration(eta) if eta == eta else '?'}"
        else:
            text = f"{self.desc}: {self.count} {self.unit}s {rate:.2f} {self.unit}/s"
        print(text + (f": {note}" if note else ""), file=self.stream, flush=True)

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


def _eta(elapsed: float, done: float, left: float) -> float:
    """Seconds left at the pace so far (NaN before any work was done)."""
    return max(0.0, left) * elapsed / done if done > 0 else float("nan")


class BarProgress:
    """tqdm's bar (rate and ETA), with the last note as its postfix. With `work`, tqdm counts the work
    (its fill and ETA follow it) and the postfix says the count and its rate."""

    def __init__(self, total: int | None, desc: str, unit: str, stream, work: float | None = None):
        from tqdm import tqdm

        self.total, self.unit, self.count, self.weighted = total, unit, 0, work is not None
        if self.weighted:
            self._bar = tqdm(total=work, desc=desc, file=stream, dynamic_ncols=True, smoothing=0.1,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]")
        else:
            self._bar = tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True, smoothing=0.1)

    def drop(self, work: float) -> None:
        if self.weighted:
            self._bar.total -= work

    def update(self, n: int = 1, note: str = "", work: float | None = None) -> None:
        if not self.weighted:
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(n)
            return
        self.count += n
        elapsed = self._bar.format_dict["elapsed"]
        rate = self.count / elapsed if elapsed > 0 else 0.0
        text = f"{self.count}/{self.total} {self.unit}s, {rate:.2f} {self.unit}/s"
        self._bar.set_postfix_str(text + (f": {note}" if note else ""), refresh=False)
        self._bar.update(n if work is None else work)

    def write(self, text: str) -> None:
        self._bar.write(text, file=self._bar.fp)

    def close(self) -> None:
        self._bar.close()


class NoProgress:
    """No progress lines; messages passed to write() (warnings) are still printed."""

    def __init__(self, stream):
        self.stream = stream

    def update(self, n: int = 1, note: str = "", work: float | None = None) -> None:
        pass

    def drop(self, work: float) -> None:
        pass

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


def progress(total: int | None, desc: str, unit: str = "item", enabled: bool = True, stream=None,
             every_s: float = 0.0, work: float | None = None):
    """A bar when `stream` (default stderr) is a terminal and tqdm is installed, else plain lines.
    work: the items' total cost, when they differ (module docstring)."""
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return NoProgress(stream)
    if getattr(stream, "isatty", lambda: False)():
        try:
            return BarProgress(total, desc, unit, stream, work)
        except ImportError:  # tqdm is a dependency, but a trimmed install still gets lines
            pass
    return PlainProgress(total, desc, unit, stream, every_s, work)


def track(iterable, total: int | None = None, desc: str = "", unit: str = "item", enabled: bool = True,
          every_s: float = 5.0):
    """Iterate with progress (the loops of benchmark, search, data build and library build)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    bar = progress(total, desc, unit, enabled, every_s=every_s)
    try:
        for item in iterable:
            yield item
            bar.update()
    finally:
        bar.close()
