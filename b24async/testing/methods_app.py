"""``app.info``: the calling application, as the server code's ``CRestProvider::appInfo`` builds it.

With an OAuth token (application context) the answer describes the app: ``ID``, ``CODE`` (a local
app's ``CODE`` is its ``client_id``: ``AppTable::onAfterAdd``), ``VERSION`` (an int),
``STATUS``, ``INSTALLED`` (a bool), ``PAYMENT_EXPIRED``, ``DAYS``, ``LANGUAGE_ID``, ``LICENSE``,
``LICENSE_TYPE``, ``LICENSE_FAMILY`` (RU docs ``api-reference/common/system/app-info.md``). With
a webhook it is only ``SCOPE`` and ``LICENSE``. It carries **no** ``member_id`` and no
``application_token``: the token's portal is the one that answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from b24async.testing.methods_common import CallContext, MethodResult
from b24async.testing.state import PortalState

__all__ = ["WEBHOOK_SCOPES", "app_info"]

APP_ROW_ID = "1"
"""The app's row in the portal's ``b_rest_app`` (a DB string, as the code returns it)."""
LICENSE_TYPE = "pro100"
WEBHOOK_SCOPES = ("calendar", "department", "im", "user")
"""What ``app.info`` lists for a webhook (the fake's webhooks may call every served scope)."""


def app_info(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``app.info``: the app (OAuth) or the webhook's scopes; no params are read."""
    license_name = f"en_{LICENSE_TYPE}"
    if not ctx.app:
        return MethodResult(result={"SCOPE": list(WEBHOOK_SCOPES), "LICENSE": license_name})
    hub = state.events
    assert hub is not None, "the FakePortal sets state.events"
    return MethodResult(
        result={
            "ID": APP_ROW_ID,
            "CODE": hub.app.client_id,
            "VERSION": hub.version,
            "STATUS": "L",
            "INSTALLED": hub.installed,
            "PAYMENT_EXPIRED": "N",
            "DAYS": None,
            "LANGUAGE_ID": "en",
            "LICENSE": license_name,
            "LICENSE_TYPE": LICENSE_TYPE,
            "LICENSE_FAMILY": "pro",
        }
    )
