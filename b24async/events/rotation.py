"""Confirming a new ``application_token`` (``ONAPPUPDATE``) at the portal already trusted.

An app update may bring a new token (events facts §3; the docs' ``OnAppUpdate`` page says it
"passes the updated application_token"). The stored token cannot vouch for it, and every other
field of the delivery is the sender's word. So the receiver asks the portal: it calls
``app.info`` with the event's ``auth[access_token]`` at the portal's **trusted** address (stored
from the verified install, or configured), never at an address the delivery names
(``client_endpoint``, ``server_endpoint``, ``domain``): a forged delivery pointing those at its own
server would otherwise confirm itself. Redirects are not followed for the same reason. Only
when that portal accepts the token and ``app.info`` names this app (``CODE``) is the new token
taken.

What the answer proves, and what it does not: the sender holds a live access token of this app
on this portal. ``app.info`` does not show the ``application_token`` (REST facts; b24pysdk notes
the same), so the new value itself is never confirmed; a party holding one of the app's access
tokens (every handler that receives events gets one) could rotate it. Keep event access tokens
as private as the application token.
"""

from __future__ import annotations

import urllib.parse

import attrs

from b24async.auth_urls import _origin
from b24async.errors import ApiError, DecodeError, RateLimitError, ServerError, TransportError
from b24async.methods.app import GetAppInfo
from b24async.models.events import EventAuth
from b24async.protocol import HttpRequest, RawResponse, decode_response
from b24async.transport import Transport

__all__ = ["Verdict", "confirm_at_portal", "install_origin", "trusted_address"]


@attrs.frozen
class Verdict:
    """The answer to "is this new token the portal's?": ``status`` 200, 401 or 503, and why.

    ``reason`` never holds a token: it is logged and sent back to the caller.
    """

    status: int
    reason: str = ""

    @property
    def confirmed(self) -> bool:
        """Whether the portal confirmed the token."""
        return self.status == 200


CONFIRMED = Verdict(200)


def trusted_address(portal: str) -> str:
    """``portal`` as an origin (``https://host[:port]``); ValueError when it is not one.

    Plain http is accepted only for loopback addresses (a FakePortal), as for the client.
    """
    origin, path = _origin(portal, what="portal address")
    if path.strip("/") not in ("", "rest"):
        raise ValueError(f"a portal address has no path: {origin}/…")
    return origin


def install_origin(auth: EventAuth) -> str | None:
    """The portal's address from a verified ``ONAPPINSTALL``: its ``client_endpoint`` origin.

    None unless the endpoint is a valid address (https, or http to loopback) on the host the
    ``domain`` names: both come from the same delivery, trusted on first use with its token.
    """
    if not auth.client_endpoint:
        return None
    try:
        origin, _ = _origin(auth.client_endpoint, what="client_endpoint")
    except ValueError:
        return None
    if urllib.parse.urlsplit(origin).netloc.lower() != auth.domain.strip().lower():
        return None
    return origin


async def confirm_at_portal(
    transport: Transport, origin: str, access_token: str, app_code: str
) -> Verdict:
    """Ask ``origin`` whether ``access_token`` is a live token of the app ``app_code``.

    Returns 200 when ``app.info`` answers with ``CODE == app_code``; 401 when the portal
    refuses the token or names another app; 503 when the portal cannot be asked (unreachable,
    5xx, limits, a redirect, an answer that is not Bitrix24's): then nothing is proven either
    way.
    """
    ask = GetAppInfo()
    request = HttpRequest(
        "POST",
        f"{origin}/rest/{ask.api_method}",
        body=urllib.parse.urlencode({**ask.to_params(), "auth": access_token}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        raw = await transport.send(request)
    except TransportError as error:
        return Verdict(503, f"the portal {origin} could not be reached ({error})")
    try:
        return _judge(ask, raw, origin, app_code)
    finally:
        raw.done()  # releases the transport's turn for large answers


def _judge(ask: GetAppInfo, raw: RawResponse, origin: str, app_code: str) -> Verdict:
    if 300 <= raw.status < 400:
        # The trusted address moved (or something answers for it): never follow a redirect
        # with a token; the operator updates the address.
        return Verdict(503, f"the portal {origin} answered a redirect ({raw.status}), not followed")
    try:
        response = decode_response(raw, ask.api_method)
    except (RateLimitError, ServerError) as error:
        return Verdict(503, f"the portal {origin} could not answer app.info ({error.code})")
    except ApiError as error:
        return Verdict(401, f"the portal {origin} refused the event's access token ({error.code})")
    except DecodeError:
        return Verdict(503, f"the portal {origin} gave an answer that is not Bitrix24's")
    try:
        info = ask.parse(response.result)
    except (DecodeError, ValueError):
        return Verdict(401, f"the portal {origin} gave an app.info answer that is not an app's")
    if info.code != app_code:
        return Verdict(401, f"the portal {origin} says the access token is not this app's")
    return CONFIRMED
