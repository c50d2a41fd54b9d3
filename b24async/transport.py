"""The only module that talks aiohttp's client: send an :class:`HttpRequest`, get bytes back."""

from __future__ import annotations

import asyncio
import codecs
import json
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import aiohttp

from b24async.errors import ClientClosed, TransportError
from b24async.protocol import HttpRequest, RawResponse

__all__ = ["AiohttpTransport", "Transport"]


@runtime_checkable
class Transport(Protocol):
    """Sends one HTTP request. Swap it to run the client over anything (tests, proxies)."""

    async def send(self, request: HttpRequest) -> RawResponse:
        """Send ``request``; raise :class:`TransportError` when no HTTP answer arrives."""

    async def close(self) -> None:
        """Release what the transport owns (not a caller-owned session)."""


class AiohttpTransport:
    """:class:`Transport` over an ``aiohttp.ClientSession``.

    Args:
        session: a caller-owned session (left open on :meth:`close`); by default the transport
            creates its own on first use and closes it on :meth:`close`. After :meth:`close`
            it sends nothing and never creates a session again.
        timeout: seconds for one whole request (the cloud cuts requests off after 60 s).
        connect_timeout: seconds to establish a connection.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = 75.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._closed = False
        self._large = asyncio.Lock()  # one large answer read and decoded at a time

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosed("the transport is closed; nothing was sent", sent=False)
        if self._session is None or self._session.closed:
            if not self._owns_session:
                raise RuntimeError("the caller-owned aiohttp session is closed")
            # No cookies: the REST API is stateless, and a jar would grow without bound.
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(),
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            )
        return self._session

    async def send(self, request: HttpRequest) -> RawResponse:
        """Send one request; aiohttp failures become :class:`TransportError`.

        A large answer (see :func:`read_body`) holds this transport's turn for large answers
        until :meth:`RawResponse.done <b24async.protocol.RawResponse.done>` is called (the
        client's engine does, once it is decoded) or the answer is dropped.
        """
        session = self._get_session()
        try:
            async with session.request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=self._timeout,
                allow_redirects=False,  # a moved portal must get the POST again, not a GET
            ) as response:
                headers = {k.lower(): v for k, v in response.headers.items()}
                return await read_body(response.status, headers, response.content, self._large)
        except aiohttp.ClientConnectorError as exc:
            # Connecting failed: the request never left this machine.
            raise TransportError(_describe(exc), sent=False) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TransportError(_describe(exc), sent=True) from None

    async def close(self) -> None:
        """Close the session if this transport created it; send nothing afterwards."""
        self._closed = True
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()


#: A body is read as text on arrival once it reaches this many bytes (see :func:`read_body`).
TEXT_MIN_BYTES = 1 << 20
#: ... in pieces of about this many bytes: each is decoded and appended to the text, which may
#: be copied as it grows (larger pieces: fewer copies, but more bytes held beside the text).
TEXT_PIECE_BYTES = 1 << 20


async def read_body(
    status: int,
    headers: dict[str, str],
    content: aiohttp.StreamReader,
    turn: asyncio.Lock | None = None,
) -> RawResponse:
    """Read a body; a large UTF-8 one as text, piece by piece, never whole as bytes.

    A large answer is decoded from its text (:mod:`b24async.batchstream`). Reading it as
    bytes and then decoding would hold it twice (aiohttp joins the pieces, then the text is
    made from the bytes); here, past its first :data:`TEXT_MIN_BYTES`, each piece of about
    :data:`TEXT_PIECE_BYTES` is decoded as it arrives and appended to the text (CPython grows
    the one string; at most one piece waits beside it). The text is what
    :func:`json.loads` makes of the bytes; a body it would not read as UTF-8 (another encoding
    by its first bytes, or invalid UTF-8) is kept as bytes, unchanged. Smaller bodies are
    bytes, as read.

    With ``turn``, a large body is read only while no other is being read or decoded: the
    lock is taken after its first piece and released by :meth:`RawResponse.done
    <b24async.protocol.RawResponse.done>` (the engine calls it once the answer is decoded).
    So concurrent large answers are held in memory one after the other, not together;
    the portal's work on them still overlaps (the next one waits on the socket).
    """
    head = await _piece(content)
    if len(head) < TEXT_MIN_BYTES:
        return RawResponse(status, headers, head)  # the whole body: small
    if json.detect_encoding(head) != "utf-8":
        return RawResponse(status, headers, head + await content.read())
    if turn is None:
        return await _read_text(status, headers, head, content, None)
    await turn.acquire()
    try:
        return await _read_text(status, headers, head, content, turn.release)
    except BaseException:
        turn.release()
        raise


async def _read_text(
    status: int,
    headers: dict[str, str],
    head: bytes,
    content: aiohttp.StreamReader,
    release: Callable[[], None] | None,
) -> RawResponse:
    decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    text, size, data = "", 0, head
    del head
    while data:
        try:
            text += decoder.decode(data)  # grown in place: ``text`` is its only reference
        except UnicodeDecodeError:
            return _as_bytes(status, headers, text, decoder, data + await content.read(), release)
        size += len(data)
        data = await _piece(content, TEXT_PIECE_BYTES)
    try:
        text += decoder.decode(b"", final=True)
    except UnicodeDecodeError:  # it ends inside a character
        return _as_bytes(status, headers, text, decoder, b"", release)
    return RawResponse.from_text(status, headers, text, size, release)


def _as_bytes(
    status: int,
    headers: dict[str, str],
    text: str,
    decoder: codecs.IncrementalDecoder,
    rest: bytes,
    release: Callable[[], None] | None,
) -> RawResponse:
    """Not UTF-8 after all: the bytes as they came (what was decoded, what ``decoder`` holds,
    then ``rest``); nothing is left to decode, so the turn is free again."""
    done = text.encode("utf-8", "surrogatepass") + decoder.getstate()[0]
    if release is not None:
        release()
    return RawResponse(status, headers, done + rest)


async def _piece(content: aiohttp.StreamReader, size: int = TEXT_MIN_BYTES) -> bytes:
    """The next ``size`` bytes of the body or so (fewer at its end; empty after)."""
    pieces: list[bytes] = []
    held = 0
    while held < size and (piece := await content.read(size)):
        pieces.append(piece)
        held += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _describe(exc: BaseException) -> str:
    # Never str() an aiohttp error whole: some carry the request URL, which holds the webhook
    # code. The connector error names only host and port, and the OS reason is useful.
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc})"
    if isinstance(exc, asyncio.TimeoutError):
        return "request timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected before answering"
    return type(exc).__name__
