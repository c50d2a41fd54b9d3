"""Portal and OAuth server addresses: validated, split, and shown without their secrets.

A webhook URL carries its secret code in the path, so a rejected address is echoed with its
path scrubbed. Plain ``http`` is refused except for loopback addresses (a FakePortal).
Re-exported by :mod:`b24async.auth`.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["parse_portal_url"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin(url: str, *, what: str) -> tuple[str, str]:
    """Validate an absolute or scheme-less URL; return (scheme://host[:port], path)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{what} is empty")
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} is not an http(s) URL: {_scrub_path(text)}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"{what} uses plain http to {parts.hostname}: only https is allowed "
            "(plain http is accepted for loopback addresses, e.g. a FakePortal)"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not carry a query or fragment")
    return f"{parts.scheme}://{parts.netloc}", parts.path


def _scrub_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.path.strip("/") else url


def parse_portal_url(url: str) -> tuple[str, str | None, str | None]:
    """Split the client's first argument: (origin, webhook user id, webhook code).

    A webhook URL looks like ``https://PORTAL/rest/1/abc123/``; a portal address is just
    ``PORTAL`` or ``https://PORTAL`` (optionally with ``/rest/``).
    """
    origin, path = _origin(url, what="portal URL")
    segments = [s for s in path.split("/") if s]
    if segments and segments[0] == "rest":
        if len(segments) == 1:
            return origin, None, None
        if len(segments) == 3:
            user, code = segments[1], segments[2]
            if not code:
                raise ValueError("webhook URL has an empty code")
            return origin, user, code
        raise ValueError(
            "webhook URL must look like https://PORTAL/rest/{user_id}/{code}/ "
            f"(got {len(segments) - 1} path segments after /rest)"
        )
    if segments:
        raise ValueError(f"unexpected path in portal URL: {origin}/…")
    return origin, None, None
