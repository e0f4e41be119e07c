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

    def __init__(self, total: int | None, desc: str, unit: str, stream, every_s: float = 0.0):
        self.total, self.desc, self.unit, self.stream, self.every_s = total, desc, unit, stream, every_s
        self.count, self.started, self._last = 0, time.perf_counter(), float("-inf")

    def update(self, n: int = 1, note: str = "") -> None:
        self.count += n
        now = time.perf_counter()
        last = self.total is not None and self.count >= self.total
        if not last and now - self._last < self.every_s:
            return
        self._last = now
        elapsed = now - self.started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if self.total:
            text = f"{self.desc}: {self.count}/{self.total} {self.unit}s ({100 * self.count / self.total:.1f} %)"
            eta = (self.total - self.count) / rate if rate > 0 else float("nan")
            text += f" {rate:.2f} {self.unit}/s, ETA {_duration(eta) if eta == eta else '?'}"
        else:
            text = f"{self.desc}: {self.count} {self.unit}s {rate:.2f} {self.unit}/s"
        print(text + (f": {note}" if note else ""), file=self.stream, flush=True)

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class BarProgress:
    """tqdm's bar (rate and ETA), with the last note as its postfix."""

    def __init__(self, total: int | None, desc: str, unit: str, stream):
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True, smoothing=0.1)

    def update(self, n: int = 1, note: str = "") -> None:
        if note:
            self._bar.set_postfix_str(note, refresh=False)
        self._bar.update(n)

    def write(self, text: str) -> None:
        self._bar.write(text, file=self._bar.fp)

    def close(self) -> None:
        self._bar.close()


class NoProgress:
    """No progress lines; messages passed to write() (warnings) are still printed."""

    def __init__(self, stream):
        self.stream = stream

    def update(self, n: int = 1, note: str = "") -> None:
        pass

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


def progress(total: int | None, desc: str, unit: str = "item", enabled: bool = True, stream=None,
             every_s: float = 0.0):
    """A bar when `stream` (default stderr) is a terminal and tqdm is installed, else plain lines."""
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return NoProgress(stream)
    if getattr(stream, "isatty", lambda: False)():
        try:
            return BarProgress(total, desc, unit, stream)
        except ImportError:  # tqdm is a dependency, but a trimmed install still gets lines
            pass
    return PlainProgress(total, desc, unit, stream, every_s)


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
