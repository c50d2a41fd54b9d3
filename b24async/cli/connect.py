"""Where the CLI's credentials come from, and the client built from them.

Order: ``--url`` (with ``--token``, or ``B24_TOKEN`` when the URL is a portal address), then
``B24_WEBHOOK_URL``, then ``B24_URL`` with ``B24_TOKEN``. A webhook URL carries its own secret;
a portal address (``b24-xxx.bitrix24.com``, scheme optional, as the Open Integration Package
takes it) needs an OAuth access token.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping

import attrs

from b24async.cli.exits import UsageError
from b24async.client import Bitrix24
from b24async.limits import RateLimits
from b24async.retry import RetryPolicy

__all__ = ["Target", "is_webhook_url", "open_client", "resolve_target"]

_NO_CREDENTIALS = (
    "no credentials: pass --url WEBHOOK_URL (or --url PORTAL --token TOKEN), "
    "or set B24_WEBHOOK_URL (or B24_URL and B24_TOKEN)"
)


@attrs.frozen
class Target:
    """The portal to talk to: a webhook URL, or a portal address and an access token."""

    url: str = attrs.field(repr=False)
    token: str | None = attrs.field(default=None, repr=False)


_WEBHOOK = re.compile(r"(?:https?://)?[^/\s]+/rest/[^/\s]+/[^/\s]+/?", re.IGNORECASE)


def is_webhook_url(url: str) -> bool:
    """Whether ``url`` looks like ``https://PORTAL/rest/{user}/{code}/`` (scheme optional)."""
    return _WEBHOOK.fullmatch(url.strip()) is not None


def resolve_target(args: argparse.Namespace, env: Mapping[str, str]) -> Target:
    """The credentials from the command line and the environment (``UsageError`` if none)."""
    url: str | None = getattr(args, "url", None)
    token: str | None = getattr(args, "token", None)
    if url is None:
        from_env = env.get("B24_WEBHOOK_URL", "").strip()
        # --token alone means an OAuth portal: B24_URL, not the webhook.
        url = from_env if from_env and token is None else env.get("B24_URL", "").strip()
    if not url:
        raise UsageError(_NO_CREDENTIALS)
    webhook = is_webhook_url(url)
    if token is None and not webhook:
        token = env.get("B24_TOKEN", "").strip() or None
        if token is None:
            raise UsageError(
                "the URL is a portal address, not a webhook URL "
                "(https://PORTAL/rest/USER_ID/CODE/): give an OAuth access token with --token "
                "or B24_TOKEN, or pass the full webhook URL"
            )
    if token is not None and webhook:
        raise UsageError("a webhook URL carries its own credentials: drop --token")
    return Target(url, token)


def open_client(target: Target, args: argparse.Namespace) -> Bitrix24:
    """A :class:`Bitrix24` client for ``target`` with the connection options of ``args``."""
    retry = RetryPolicy(attempts=getattr(args, "retries", RetryPolicy().attempts))
    limits = RateLimits.ENTERPRISE if getattr(args, "enterprise", False) else RateLimits.STANDARD
    try:
        return Bitrix24(
            target.url,
            token=target.token,
            limits=limits,
            timeout=getattr(args, "timeout", 75.0),
            retry=retry,
        )
    except ValueError as error:  # the client's messages never include the webhook code
        raise UsageError(f"invalid portal URL: {error}") from None
