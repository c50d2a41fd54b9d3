"""Fixtures shared by the client tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from b24async import batchstream, jsonio
from b24async.models import _calendar_msgspec as fast


@pytest.fixture(
    params=[
        "whole",
        "walked",
        pytest.param("msgspec", marks=pytest.mark.skipif(not fast.AVAILABLE, reason="no msgspec")),
    ],
)
def decoding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A test three times: batch answers decoded whole; walked command by command (the way
    answers of 2 MiB and more are read, here forced for small ones); and with each command's
    text read by msgspec (the speed extra), the way it reads answers under 2 MiB: walked
    because a consumer reads the text (``TEXT_MIN_BYTES``, here 0), the rest decoded whole."""
    monkeypatch.setattr(fast, "ENABLED", request.param == "msgspec")
    if request.param == "whole":
        monkeypatch.setattr(batchstream, "STREAM_MIN_BYTES", 10**12)
        monkeypatch.setattr(batchstream, "TEXT_MIN_BYTES", 10**12)
        yield request.param
        return
    if request.param == "msgspec":
        monkeypatch.setattr(batchstream, "TEXT_MIN_BYTES", 0)
        yield request.param
        return
    monkeypatch.setattr(batchstream, "STREAM_MIN_BYTES", 0)
    backend = jsonio.BACKEND
    jsonio.use("stdlib")  # the walk reads with the stdlib's scanner
    try:
        yield request.param
    finally:
        jsonio.use(backend)
