"""``b24async.progress.ProgressBar``: drawn on a terminal, silent when piped, fed by the client."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import re
import sys

import pytest

from b24async import Bitrix24
from b24async.methods import GetAccessibility, GetUsers
from b24async.progress import ProgressBar
from b24async.testing import FakePortal


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


HAS_TQDM = importlib.util.find_spec("tqdm") is not None


class StepClock:
    """A monotonic clock that reads the next of the given times (and then stays at the last)."""

    def __init__(self, *readings: float) -> None:
        self._readings = list(readings)

    def time(self) -> float:
        return self.monotonic()

    def monotonic(self) -> float:
        return self._readings.pop(0) if len(self._readings) > 1 else self._readings[0]

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("a progress bar never sleeps")


def test_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressBar("rows", file=stream) as bar:
        bar(5, 10)
        bar(10, 10)
    assert stream.getvalue() == ""
    assert bar.style == "off"
    assert (bar.done, bar.total) == (10, 10)


def test_text_reporter_on_a_terminal() -> None:
    stream = Terminal()
    with ProgressBar("rows", unit="row", file=stream, style="text") as bar:
        bar(3, 10)
        bar(10, 10)
    out = stream.getvalue()
    assert bar.style == "text"
    assert "\rrows: 3/10 row ( 30%)" in out
    assert "rows: 10/10 row (100%)" in out
    assert out.endswith("\n")


def test_text_rate_counts_from_when_the_bar_was_made() -> None:
    stream = Terminal()
    # Made at t=100; the first (and only) chunk of 198 finishes at t=101.65.
    bar = ProgressBar("batch", unit="cmd", file=stream, style="text", clock=StepClock(100, 101.65))
    bar(198, 198)
    bar.close()
    assert "batch: 198/198 cmd (100%) 120.0 cmd/s" in stream.getvalue()


@pytest.mark.skipif(not HAS_TQDM, reason="tqdm (the progress extra) is not installed")
def test_tqdm_elapsed_time_counts_from_when_the_bar_was_made() -> None:
    stream = Terminal()
    bar = ProgressBar("batch", unit="cmd", file=stream, clock=StepClock(100, 101.65))
    bar(198, 198)  # the first report comes when the only chunk is done, 1.65 s after the start
    bar.close()
    # tqdm's closing line shows the elapsed time of the whole job: at least 1.65 s, so 00:01,
    # and a rate of at most 198 / 1.65 = 120 cmd/s (it said 00:00 and 2374 cmd/s before).
    final = stream.getvalue().rsplit("\r", 1)[-1]
    assert "198/198 [00:01<00:00" in final, final
    rate = re.search(r", ([\d.]+) ?cmd/s", final)
    assert rate and float(rate.group(1)) <= 120.0, final


def test_counts_never_go_back_and_totals_may_grow() -> None:
    bar = ProgressBar(enabled=False)
    bar(5, 10)
    bar(4, 10)  # out of order reports from concurrent chunks
    assert bar.done == 5
    bar(12, 10)  # a list that grew while it was read
    assert (bar.done, bar.total) == (12, 12)
    bar.close()
    bar(20, 20)  # ignored once closed
    assert bar.done == 12


def test_enabled_overrides_the_terminal_check() -> None:
    stream = io.StringIO()
    with ProgressBar("cmds", file=stream, enabled=True, style="text") as bar:
        bar(1, 1)
    assert "cmds: 1/1" in stream.getvalue()


@pytest.mark.skipif(not HAS_TQDM, reason="tqdm (the progress extra) is not installed")
def test_tqdm_draws_on_a_terminal() -> None:
    stream = Terminal()
    with ProgressBar("batch", unit="cmd", file=stream) as bar:
        assert bar.style == "tqdm"
        bar(50, 120)
        bar(120, 120)
    assert "batch" in stream.getvalue()
    assert "120/120" in stream.getvalue()


def test_without_tqdm_falls_back_to_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    stream = Terminal()
    with ProgressBar("rows", file=stream) as bar:
        bar(1, 2)
    assert bar.style == "text"
    with pytest.raises(ImportError, match="progress"):
        ProgressBar(file=stream, style="tqdm")
    with pytest.raises(ValueError, match="style"):
        ProgressBar(style="fancy")  # type: ignore[arg-type]


async def test_the_client_reports_progress_for_every_long_operation() -> None:
    async with FakePortal(users=150) as portal, Bitrix24(portal.webhook_url) as b24:
        batched = ProgressBar(enabled=False)
        result = await b24.batch([("user.get", {"ID": i}) for i in range(1, 121)], progress=batched)
        assert result.ok and (batched.done, batched.total) == (120, 120)

        paged = ProgressBar(enabled=False)
        rows = await b24.list_all("user.get", progress=paged)
        assert len(rows) == 150 and (paged.done, paged.total) == (150, 150)

        typed = ProgressBar(enabled=False)
        users = [u async for u in b24.paginate(GetUsers(active=True), keyset=True, progress=typed)]
        assert typed.done == len(users) == typed.total

        busy = ProgressBar(enabled=False)
        today = dt.date.today()
        request = GetAccessibility(users=range(1, 121), start=today, end=today)
        availability = await b24(request, progress=busy)
        assert len(availability) == 120 and (busy.done, busy.total) == (120, 120)
