"""``im.user.status.set`` and ``im.user.status.get``: the caller's messenger status.

Keys are upper-cased (``STATUS``/``status`` both work) but the value is case-sensitive, as in
CORE ``im_rest.php``: only ``online``, ``dnd``, ``away`` and ``break``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from b24async.testing.methods_common import CallContext, MethodFailure, MethodResult, upper_keys
from b24async.testing.state import PortalState

__all__ = ["IM_STATUSES", "im_user_status_get", "im_user_status_set"]

IM_STATUSES = ("online", "dnd", "away", "break")
"""The values ``im.user.status.set`` accepts (exactly these, lower case)."""


def im_user_status_set(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``im.user.status.set``: store ``STATUS``; anything else is 400 ``STATUS_ERROR``."""
    status = upper_keys(params).get("STATUS")
    if not isinstance(status, str) or status not in IM_STATUSES:
        raise MethodFailure(400, "STATUS_ERROR", "Status is not available")
    state.set_im_status(ctx.user_id, status)
    target = f"im_status:{ctx.user_id}"
    state.record("im.user.status.set", ctx.user_id, target, {"STATUS": status}, ctx.now)
    return MethodResult(result=True)


def im_user_status_get(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``im.user.status.get``: the stored status string, or ``false`` if none was ever set."""
    status = state.im_status(ctx.user_id)
    return MethodResult(result=status if status is not None else False)
