"""An OAuth app that keeps working past token expiry, and persists every refreshed token pair.

Run it as is: it starts an embedded fake portal, "installs" the app (the portal issues a token
pair, saved to the token file), calls the API, lets the access token expire, and calls again::

    python examples/oauth_app.py --tokens tokens.json

Against your portal (a local app's credentials; the first pair from its install event)::

    B24_URL=b24-xxx.bitrix24.com B24_CLIENT_ID=local.xxx B24_CLIENT_SECRET=... \\
    B24_ACCESS_TOKEN=... B24_REFRESH_TOKEN=... python examples/oauth_app.py --tokens tokens.json

Later runs read the pair from the token file. On ``expired_token`` the client refreshes once for
all concurrent calls and hands the new pair to ``on_token_refresh``, which writes the file
atomically (the refresh token is replaced on every refresh: the old one is dead). Tokens are
never printed. ``B24_OAUTH_URL`` overrides the OAuth server (``https://oauth.bitrix.info``
by default; some regions use ``https://oauth.bitrix24.tech/oauth/token/``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from b24async import Bitrix24, TokenPair
from b24async.methods import GetUserStatus


@attrs.frozen
class App:
    """The app's registration and where its portal and OAuth server are."""

    portal_url: str
    client_id: str = attrs.field(repr=False)
    client_secret: str = attrs.field(repr=False)
    oauth_url: str = "https://oauth.bitrix.info/oauth/token/"  # the client's default too


class TokenFile:
    """The app's token pair on disk (JSON, owner-only permissions, replaced atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saves = 0

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        return data

    def save(self, access_token: str, refresh_token: str, expires_at: dt.datetime | None) -> None:
        data = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_at": expires_at.isoformat(timespec="seconds") if expires_at else None,
            "saved_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        # Write a temporary file and rename it over the old one: a crash mid-write must not
        # lose the only valid refresh token.
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(data, file, indent=2)
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.saves += 1

    def on_refresh(self, pair: TokenPair) -> None:
        """The client's ``on_token_refresh`` callback."""
        self.save(pair.access_token, pair.refresh_token, pair.expires_at)
        expires = pair.expires_at.astimezone(dt.timezone.utc)
        print(f"  on_token_refresh: new pair saved to {self.path} (expires {expires:%H:%M} UTC)")


def app_from_env() -> App | None:
    """The real app's settings, or None when they are not all in the environment."""
    url = os.environ.get("B24_URL") or os.environ.get("B24_PORTAL_URL")
    client_id = os.environ.get("B24_CLIENT_ID")
    client_secret = os.environ.get("B24_CLIENT_SECRET")
    if not (url and client_id and client_secret):
        return None
    app = App(url, client_id, client_secret)
    oauth_url = os.environ.get("B24_OAUTH_URL")
    return attrs.evolve(app, oauth_url=oauth_url) if oauth_url else app


async def use_the_api(app: App, tokens: TokenFile, expire: Callable[[], None] | None) -> int:
    """Call the API as the app; ``expire`` (fake portal only) makes the access token stale."""
    stored = tokens.load()
    if stored is None:
        access = os.environ.get("B24_ACCESS_TOKEN")
        refresh = os.environ.get("B24_REFRESH_TOKEN")
        if not (access and refresh):
            print(f"No {tokens.path} and no B24_ACCESS_TOKEN/B24_REFRESH_TOKEN.", file=sys.stderr)
            return 2
        tokens.save(access, refresh, None)  # expiry unknown: the portal will tell
        stored = tokens.load()
        assert stored is not None
    async with Bitrix24(
        app.portal_url,
        token=stored["access_token"],
        refresh_token=stored["refresh_token"],
        client_id=app.client_id,
        client_secret=app.client_secret,
        oauth_url=app.oauth_url,
        on_token_refresh=tokens.on_refresh,
    ) as b24:
        me = (await b24.call("user.current")).result
        print(f"Signed in as {me.get('NAME')} {me.get('LAST_NAME')} (user {me.get('ID')}).")
        if expire is not None:
            expire()
            print("An hour passes: the portal expires the access token.")
        # Several calls at once: whichever meets expired_token first refreshes; the others wait
        # for that one refresh and retry with the new token.
        statuses = await asyncio.gather(*(b24(GetUserStatus()) for _ in range(5)))
        print(f"5 concurrent calls after that: all answered (status {statuses[0]}).")
        refreshes = b24.stats.token_refreshes
    print(f"Token refreshes: {refreshes}. Token file writes: {tokens.saves}.")
    if refreshes and expire is None:
        print(f"{tokens.path} now holds the new pair; the next run starts from it.")
    elif refreshes:
        # The embedded portal, and every token it issued, ends with this run.
        print(
            f"{tokens.path} now holds the new pair. The embedded fake portal ends with this "
            "run, so the next run installs the app afresh; against your portal, the next run "
            "starts from the file."
        )
    return 0


async def run(args: argparse.Namespace) -> int:
    tokens = TokenFile(args.tokens)
    app = app_from_env()
    if app is not None:
        return await use_the_api(app, tokens, expire=None)

    from b24async.testing import FakePortal

    print("B24_URL/B24_CLIENT_ID/B24_CLIENT_SECRET are not set: using an embedded fake portal.")
    async with FakePortal(users=10) as portal:
        app = App(portal.url, portal.client_id, portal.client_secret, portal.oauth_url)
        issued = portal.issue_tokens(user_id=1)  # what the app's install handler receives
        expires = dt.datetime.fromtimestamp(issued.expires_at, dt.timezone.utc)
        tokens.save(issued.access_token, issued.refresh_token, expires)
        print(f"App installed: the first token pair is saved to {tokens.path}.")
        return await use_the_api(app, tokens, expire=portal.expire_access_tokens)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tokens", type=Path, default=Path("tokens.json"), help="token file (tokens.json)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
