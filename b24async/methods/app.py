"""The calling application: ``app.info``."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from b24async.methods.base import Method
from b24async.models.app import AppInfo

__all__ = ["GetAppInfo"]


@attrs.frozen
class GetAppInfo(Method[AppInfo]):
    """The app behind the token (or a webhook's scopes): ``app.info``.

    An event receiver uses it to confirm an access token at a trusted portal
    (:mod:`b24async.events.rotation`).
    """

    api_method: ClassVar[str] = "app.info"

    def to_params(self) -> dict[str, Any]:
        """No params."""
        return {}

    def parse(self, result: Any) -> AppInfo:
        """An :class:`~b24async.models.app.AppInfo`."""
        return AppInfo.from_wire(result)
