"""A ready-made progress bar for long jobs: pass it wherever a ``progress=`` callback goes.

Every long operation of the client takes ``progress(done, total)``: :meth:`Bitrix24.batch`
(commands completed), :meth:`Bitrix24.paginate` and :meth:`Bitrix24.list_all` (rows read), and
``await b24(GetAccessibility(...), progress=...)`` (users answered). :class:`ProgressBar` is such
a callback::

    from b24async.progress import ProgressBar

    with ProgressBar("users", unit="user") as bar:
        users = await b24.list_all("user.get", progress=bar)

It draws with `tqdm <https://tqdm.github.io/>`_ when it is installed (``pip install
b24async[progress]``) and with a small built-in one-line reporter otherwise. Either way it is
shown only when its stream (stderr by default) is a terminal, so a script piped into a file or
run by cron prints nothing extra; ``enabled=True``/``False`` overrides that.
"""

from __future__ import annotations

import importlib
import sys
from types import TracebackType
from typing import Any, Literal, TextIO

from b24async.clock import SYSTEM_CLOCK, Clock

__all__ = ["ProgressBar"]

Style = Literal["auto", "tqdm", "text"]

_REDRAW_EVERY = 0.1  # seconds between redraws of the built-in reporter


def _load_tqdm() -> Any | None:
    """The ``tqdm.tqdm`` class, or None when the optional extra is not installed."""
    try:
        # Imported by name: tqdm is optional and ships no type stubs, so a static import would
        # make ``mypy --strict`` depend on whether the extra (and types-tqdm) is installed.
        module = importlib.import_module("tqdm")
    except ImportError:
        return None
    return getattr(module, "tqdm", None)


def _is_terminal(stream: TextIO | None) -> bool:
    if stream is None:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or the stream is closed
        return False


class ProgressBar:
    """A ``progress(done, total)`` callback that draws a progress bar on a terminal.

    Args:
        description: the label before the bar, e.g. ``"users"``.
        unit: what is counted (``"cmd"``, ``"user"``, ``"row"``); shown in the rate.
        file: where to draw; ``sys.stderr`` by default, so stdout stays clean for data.
        enabled: ``None`` (default) draws only when ``file`` is a terminal; ``True`` always
            draws, ``False`` never does.
        style: ``"auto"`` uses tqdm when installed, else the built-in reporter; ``"tqdm"``
            requires tqdm (``ImportError`` without it); ``"text"`` always uses the built-in one.
        clock: where elapsed time is read (the rate and tqdm's elapsed time count from when the
            bar was made, not from the first report).

    Use it as a context manager (or call :meth:`close`) so the bar ends with a newline. Totals
    may change between calls (a list that grows while it is read); ``done`` never goes back.
    """

    def __init__(
        self,
        description: str = "",
        *,
        unit: str = "it",
        file: TextIO | None = None,
        enabled: bool | None = None,
        style: Style = "auto",
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if style not in ("auto", "tqdm", "text"):
            raise ValueError(f"style must be 'auto', 'tqdm' or 'text', got {style!r}")
        self.description = description
        self.unit = unit
        # sys.stderr is None under pythonw: nothing to draw on, whatever ``enabled`` says.
        self._file: TextIO | None = file if file is not None else sys.stderr
        wanted = _is_terminal(self._file) if enabled is None else enabled
        self.enabled = wanted and self._file is not None
        self.done = 0
        self.total = 0
        self._closed = False
        self._tqdm: Any | None = None  # created on the first report, when the total is known
        self._tqdm_class: Any | None = None
        self._clock = clock
        self._started = clock.monotonic()
        self._drawn_at = 0.0
        self._drawn = False
        if not self.enabled:
            return
        self._tqdm_class = None if style == "text" else _load_tqdm()
        if style == "tqdm" and self._tqdm_class is None:
            raise ImportError("style='tqdm' needs tqdm: pip install 'b24async[progress]'")

    @property
    def style(self) -> Literal["tqdm", "text", "off"]:
        """What draws the bar: ``"tqdm"``, the built-in ``"text"`` reporter, or ``"off"``."""
        if not self.enabled:
            return "off"
        return "tqdm" if self._tqdm_class is not None else "text"

    def __call__(self, done: int, total: int) -> None:
        """Record that ``done`` of ``total`` items are finished, and redraw if it is time."""
        if self._closed:
            return
        done = max(done, self.done)
        total = max(total, done)
        advanced, resized = done - self.done, total != self.total
        self.done, self.total = done, total
        if not self.enabled:
            return
        if self._tqdm_class is not None:
            self._tqdm_update(advanced, resized)
            return
        now = self._clock.monotonic()
        if now - self._drawn_at >= _REDRAW_EVERY or done == total:
            self._drawn_at = now
            self._draw(now)

    def _tqdm_update(self, advanced: int, resized: bool) -> None:
        assert self._tqdm_class is not None
        if self._tqdm is None:
            # Made on the first report, when the total is known; its clock starts when it is
            # made, so it is moved back to when this bar was: elapsed time and rate then cover
            # the whole job, not just what came after the first chunk.
            self._tqdm = bar = self._tqdm_class(
                total=self.total,
                desc=self.description or None,
                unit=self.unit,
                file=self._file,
                disable=False,  # decided in __init__, by the same rule as tqdm's disable=None
                dynamic_ncols=True,
                leave=True,
            )
            elapsed = max(self._clock.monotonic() - self._started, 0.0)
            bar.start_t -= elapsed
            bar.last_print_t -= elapsed
            if self.done:
                bar.update(self.done)
            return
        if resized:
            self._tqdm.total = self.total
            self._tqdm.refresh()
        if advanced:
            self._tqdm.update(advanced)

    def _draw(self, now: float) -> None:
        assert self._file is not None  # enabled implies a stream
        percent = 100.0 * self.done / self.total if self.total else 100.0
        elapsed = max(now - self._started, 1e-9)
        label = f"{self.description}: " if self.description else ""
        line = (
            f"{label}{self.done}/{self.total} {self.unit} ({percent:3.0f}%) "
            f"{self.done / elapsed:.1f} {self.unit}/s"
        )
        # \r rewrites the line in place; the trailing spaces wipe a longer previous line.
        self._file.write(f"\r{line}   ")
        self._file.flush()
        self._drawn = True

    def close(self) -> None:
        """Finish the bar (final redraw and newline). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._tqdm is not None:
            self._tqdm.close()
        elif self.style == "text" and self.done:
            self._draw(
                self._clock.monotonic()
            )  # the last update may have been skipped by the rate cap
        if self._drawn and self._file is not None:
            self._file.write("\n")
            self._file.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ProgressBar({self.description!r}, done={self.done}, total={self.total}, "
            f"style={self.style!r})"
        )
