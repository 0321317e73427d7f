"""Progress of long jobs: a bar on a terminal, nothing anywhere else (public through ``pxos_kernel``).

Every long job (``model eval``, ``model finetune``, ``agent coach``,
``evolve build``, ``cartridge test``, big ``storage put|get`` ...) reports its
progress through :func:`progress`, so that they all behave alike:

- a bar (drawn by tqdm) goes to **stderr**, never to stdout, so ``--json``
  output and pipes stay clean;
- it is drawn only when stderr is a terminal, ``TERM`` is not ``dumb`` (a
  terminal that cannot redraw a line), and neither ``pxos-kernel --quiet``
  nor ``PXOS_QUIET=1`` asked for silence (``--quiet`` sets ``PXOS_QUIET`` so
  that child processes stay quiet too);
- otherwise nothing is printed and tqdm is not even imported. Where tqdm
  cannot be imported at all (a system booted from its pixel archive without
  it), there is no bar either: the job runs the same, only without a
  terminal display.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import TracebackType
from typing import Any, BinaryIO, Generic, Iterable, Iterator, Optional, TypeVar, overload

T = TypeVar("T")

#: Set (to anything but ``""`` or ``"0"``) by ``pxos-kernel --quiet``, and inherited by children.
QUIET_VARIABLE = "PXOS_QUIET"
#: How a bar of phases reads: ``evolve build:  50%|█████     | 5/10 [00:12, tests]``.
PHASES_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
#: Seconds between redraws while a job sits in one step (a sandboxed build): the elapsed time keeps moving.
TICK_SECONDS = 1.0


def progress_shown() -> bool:
    """Whether :func:`progress` draws bars: stderr is a terminal, ``TERM`` is not ``dumb``, ``PXOS_QUIET`` is unset.

    ``pxos-kernel --quiet`` sets ``PXOS_QUIET=1`` (children inherit it).
    """
    if os.environ.get(QUIET_VARIABLE) not in (None, "", "0") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


class Progress(Generic[T]):
    """One job's progress, as :func:`progress` returns it; every method does nothing when no bar is shown.

    Iterate over it to advance one step per item, or call :meth:`update` (for
    bytes or tokens), or :meth:`phase` for a job made of a few blocking
    steps; :meth:`note` shows what is going on beside the bar. Use it as a
    context manager, so the bar is closed (and the terminal line finished)
    however the job ends.
    """

    def __init__(self, iterable: Optional[Iterable[T]], bar: Any) -> None:
        self._iterable = iterable
        self._bar = bar
        self._in_phase = False
        self._stop = threading.Event()
        if bar is not None:  # redraw now and then, so a long blocking step still shows its elapsed time
            threading.Thread(target=self._tick, name="pxos-progress", daemon=True).start()

    def _tick(self) -> None:
        bar = self._bar
        while not self._stop.wait(TICK_SECONDS):
            if time.time() >= bar.start_t + bar.delay:  # before its delay, tqdm shows nothing: neither do we
                bar.refresh()

    def __iter__(self) -> Iterator[T]:
        if self._iterable is None:
            raise TypeError("this progress was made without an iterable: call update() instead")
        try:
            for item in self._iterable:
                yield item
                self.update()
        finally:  # a loop that ends (or breaks) ends its bar
            self.close()

    def update(self, n: float = 1) -> None:
        """Advance by ``n`` units (steps, bytes, tokens)."""
        if self._bar is not None:
            self._bar.update(n)

    def note(self, text: str) -> None:
        """Show ``text`` beside the bar (``"loss 2.31"``, ``"task 7, round 2/3"``) until the next note."""
        if self._bar is not None:
            self._bar.set_postfix_str(text)

    def phase(self, text: str) -> None:
        """Say the job moved on to ``text`` (``"running tests"``); the phase before it counts as one unit done.

        With ``total`` set to the number of phases, the bar then reads
        ``evolve build:  50%|█████     | 2/4 [00:12, running tests]``;
        closing the progress after the job succeeded counts the last phase.
        """
        if self._bar is None:
            return
        if self._in_phase:
            self._bar.update(1)
        elif self._bar.total:  # phases come seconds apart: their rate says nothing, so leave it out
            self._bar.bar_format = PHASES_FORMAT
        self._in_phase = True
        self.note(text)

    def reader(self, stream: BinaryIO) -> BinaryIO:
        """``stream``, the bar showing how far into it reading has got (for uploads: ``unit="B"``).

        A reader that seeks back (to hash a file, then store it) starts the
        bar again from there, so it never counts a byte twice.
        """
        return stream if self._bar is None else _Counted(stream, self._bar)  # type: ignore[return-value]

    def writer(self, stream: BinaryIO) -> BinaryIO:
        """``stream``, counting each byte written to it (for downloads: ``unit="B"``)."""
        return stream if self._bar is None else _Counted(stream, self._bar)  # type: ignore[return-value]

    def close(self, *, done: bool = True) -> None:
        """Finish the bar (counting a running phase as ``done``) and stop redrawing it."""
        if self._bar is None:
            return
        self._stop.set()
        if self._in_phase and done:
            self._bar.update(1)
            self.note("done")
        self._in_phase = False
        self._bar.close()

    def __enter__(self) -> "Progress[T]":
        return self

    def __exit__(self, kind: Optional[type[BaseException]], value: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self.close(done=kind is None)


class _Counted:
    """A binary file whose reads and writes advance a bar; anything else goes to the file itself."""

    def __init__(self, stream: BinaryIO, bar: Any) -> None:
        self._stream, self._bar = stream, bar
        try:
            self._start = stream.tell()
        except (AttributeError, OSError, ValueError):  # a pipe: it cannot seek either
            self._start = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._bar.update(len(data))
        return data

    def write(self, data: bytes) -> int:
        written = self._stream.write(data)
        self._bar.update(len(data) if written is None else written)
        return written

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._stream.seek(offset, whence)
        self._bar.reset(total=self._bar.total)
        self._bar.update(max(0, position - self._start))
        return position

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@overload
def progress(iterable: Iterable[T], *, description: str, total: Optional[float] = None, unit: str = "it",
             delay: float = 0.0) -> Progress[T]: ...
@overload
def progress(iterable: None = None, *, description: str, total: Optional[float] = None, unit: str = "it",
             delay: float = 0.0) -> Progress[Any]: ...


def progress(iterable: Optional[Iterable[T]] = None, *, description: str, total: Optional[float] = None,
             unit: str = "it", delay: float = 0.0) -> Progress[T]:
    """The progress of one long job: a bar on stderr where :func:`progress_shown`, else nothing (no tqdm import).

    ``description`` names the job (``"model eval"``); ``total`` is how many
    ``unit``\\ s it will take (taken from ``len(iterable)`` when omitted;
    ``None`` when unknown: the bar then counts and shows the rate); with
    ``unit="B"`` amounts are shown as kB, MB ...; ``delay`` seconds pass
    before a bar appears, so that a short job prints nothing at all::

        from pxos_kernel import progress

        for step in progress(range(steps), description="model finetune", unit="step"):
            train_one(step)

        with progress(description="evolve build", total=3, unit="phase") as bar:
            bar.phase("building")
            ...
            bar.phase("running tests")
            ...
            bar.phase("registering")
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if not progress_shown():
        return Progress(iterable, None)
    try:
        from tqdm import tqdm
    except ImportError:  # no terminal display here (tqdm was not installed or not staged): run without one
        return Progress(iterable, None)
    bar = tqdm(total=total, desc=description, unit=unit, unit_scale=unit == "B", delay=delay, file=sys.stderr,
               dynamic_ncols=True, leave=True)
    return Progress(iterable, bar)
