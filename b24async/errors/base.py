"""``B24Error`` and the errors that carry no server code: the client closed, the request got no
answer, the answer was not an envelope, a redirect was not followed.

Part of :mod:`b24async.errors` (import them from there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b24async.results import BatchResult

__all__ = ["B24Error", "ClientClosed", "DecodeError", "RedirectError", "TransportError"]

_RAW_PREVIEW = 200


class B24Error(Exception):
    """Base class of every exception b24async raises on purpose."""

    @property
    def may_have_applied(self) -> bool:
        """Whether the portal may have run the command this error belongs to.

        ``False`` is a proof that it did not (safe to re-send); ``True`` means the outcome is
        unknown. Subclasses answer from what they know; the base class cannot know.
        """
        return True

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild without calling __init__ (which may take keyword-only arguments), then
        # restore every attribute from __dict__: nothing is dropped, subclasses included.
        return (_restore, (type(self), self.args), self.__dict__)


def _restore(cls: type[B24Error], args: tuple[Any, ...]) -> B24Error:
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class ClientClosed(B24Error):
    """The :class:`~b24async.Bitrix24` client was closed before this command got an answer.

    ``sent`` tells whether the command had left for the portal when the client closed (then it
    may have been applied); a command that was still queued was never sent.

    Raised by :meth:`~b24async.Bitrix24.batch`, ``result`` is the batch's
    :class:`~b24async.BatchResult` as far as it got: every command's outcome (succeeded,
    failed, unknown, not sent), those cut short by the close ending with a per-command
    ``ClientClosed`` that says whether it was sent. ``sent`` is then True if any of them may
    have been applied. Elsewhere ``result`` is None. It pickles with the error.
    """

    def __init__(
        self,
        message: str = "the Bitrix24 client is closed",
        *,
        sent: bool = False,
        result: BatchResult[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.sent = sent
        self.result = result

    @classmethod
    def cut_short(cls, sent: bool, what: str = "") -> ClientClosed:
        """The error of a command or call (``what``, e.g. its method) that the close ended.

        The one wording for every path: whether it may have been applied, or was not sent.
        """
        detail = "it may have been applied" if sent else "it was not sent"
        where = f"{what}: " if what else ""
        return cls(f"{where}the Bitrix24 client was closed ({detail})", sent=sent)

    @property
    def may_have_applied(self) -> bool:
        """True only when the command had been sent before the close."""
        return self.sent


class TransportError(B24Error):
    """The request got no HTTP answer: connection refused or dropped, DNS failure, timeout.

    ``sent`` tells whether the request may have reached the server. It is False only when the
    failure proves it did not (e.g. the connection was refused), which is what makes retrying a
    non-idempotent write safe.
    """

    def __init__(self, message: str, *, method: str = "", sent: bool = True) -> None:
        super().__init__(message)
        self.method = method
        self.sent = sent

    @property
    def may_have_applied(self) -> bool:
        """False only when the failure proves the request never left (see ``sent``)."""
        return self.sent

    def __str__(self) -> str:
        base = super().__str__()
        return f"{self.method}: {base}" if self.method else base


class DecodeError(B24Error):
    """An HTTP answer that is not a Bitrix24 JSON envelope, e.g. an HTML 502 page from a proxy.

    ``raw`` keeps the body as received (bytes) so that it can be logged or inspected.
    """

    def __init__(self, message: str, *, raw: bytes, status: int, method: str = "") -> None:
        super().__init__(message)
        self.raw = raw
        self.status = status
        self.method = method

    def __str__(self) -> str:
        preview = self.raw[:_RAW_PREVIEW].decode("utf-8", "replace")
        where = f"{self.method}: " if self.method else ""
        return f"{where}{super().__str__()} (HTTP {self.status}, body starts {preview!r})"


class RedirectError(B24Error):
    """The portal answered with a redirect (3xx) that the client did not follow.

    Either it redirected too often in one call (``max_redirects``), or the location may not be
    followed: plain http to a non-loopback host, no host, a query string. A redirect is an
    answer that ran nothing, so the command was not applied.

    Attributes:
        location: where the portal pointed (secrets masked).
        status: the HTTP status of the redirect.
        method: the REST method being sent.
    """

    def __init__(self, message: str, *, location: str, status: int, method: str = "") -> None:
        super().__init__(message)
        self.location = location
        self.status = status
        self.method = method

    @property
    def may_have_applied(self) -> bool:
        """A redirect answer means the portal did not run the command."""
        return False

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        return f"{where}{super().__str__()} (HTTP {self.status} to {self.location})"
