"""The calling application as ``app.info`` describes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from b24async.models import _convert as cv

__all__ = ["AppInfo"]

_KNOWN = (
    "ID",
    "CODE",
    "VERSION",
    "STATUS",
    "INSTALLED",
    "PAYMENT_EXPIRED",
    "DAYS",
    "LANGUAGE_ID",
    "LICENSE",
    "SCOPE",
)


@attrs.frozen
class AppInfo:
    """``app.info``: the app of an OAuth token, or (``code`` None) a webhook's scopes.

    With an OAuth token the portal describes the app (RU docs
    ``api-reference/common/system/app-info.md``; server code ``CRestProvider::appInfo``):
    ``code`` is a local app's ``client_id`` or a Market app's code, ``status`` one of ``F``
    free, ``D`` demo, ``T`` trial, ``P`` paid, ``L`` local, ``S`` subscription. A webhook gets
    only ``scope`` and ``license``. There is no ``member_id``: the portal that answers is the
    token's. Fields the portal adds (``LICENSE_TYPE``, ``LICENSE_FAMILY``, ...) are in ``extra``.
    """

    id: int | None
    code: str | None
    version: int | None
    status: str | None
    installed: bool | None
    payment_expired: bool | None
    days: int | None
    """Days left of the paid or trial period (negative in the grace period); None if none."""
    language_id: str | None
    license: str | None
    scope: tuple[str, ...] = ()
    """A webhook's scopes (empty for an app)."""
    extra: Mapping[str, Any] = attrs.field(factory=cv.FrozenMap, repr=False)

    @classmethod
    def from_wire(cls, raw: Any) -> AppInfo:
        """Parse the ``result`` of ``app.info``; a known field of the wrong shape raises."""
        row = cv.as_map(raw, "app.info")
        scope = row.get("SCOPE") or []
        return cls(
            id=cv.as_opt_int(row.get("ID"), "ID"),
            code=cv.as_opt_str(row.get("CODE"), "CODE"),
            version=cv.as_opt_int(row.get("VERSION"), "VERSION"),
            status=cv.as_opt_str(row.get("STATUS"), "STATUS"),
            installed=cv.as_opt_bool(row.get("INSTALLED"), "INSTALLED"),
            payment_expired=cv.as_opt_bool(row.get("PAYMENT_EXPIRED"), "PAYMENT_EXPIRED"),
            days=cv.as_opt_int(row.get("DAYS"), "DAYS"),
            language_id=cv.as_opt_str(row.get("LANGUAGE_ID"), "LANGUAGE_ID"),
            license=cv.as_opt_str(row.get("LICENSE"), "LICENSE"),
            scope=tuple(str(item) for item in cv.as_list(scope, "SCOPE")),
            extra=cv.split_extra(row, _KNOWN),
        )
