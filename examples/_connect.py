"""What every example starts with: the portal in ``B24_WEBHOOK_URL``, or an embedded fake one.

Kept beside the examples (``python examples/NAME.py`` puts this folder on ``sys.path``) so that
each example stays runnable as-is, with or without a real portal.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from b24async import Bitrix24

if TYPE_CHECKING:
    from b24async.testing import FakePortal


@contextlib.asynccontextmanager
async def connect(fake_users: int) -> AsyncIterator[tuple[Bitrix24, FakePortal | None]]:
    """Yield ``(client, portal)``: ``portal`` is the embedded fake portal, None for a real one."""
    url = os.environ.get("B24_WEBHOOK_URL")
    if url:
        async with Bitrix24(url) as b24:
            yield b24, None
        return
    from b24async.testing import FakePortal

    print(f"B24_WEBHOOK_URL is not set: using an embedded fake portal ({fake_users} users).")
    async with FakePortal(users=fake_users) as portal, Bitrix24(portal.webhook_url) as b24:
        yield b24, portal
