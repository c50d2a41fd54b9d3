"""Typed user requests: list users, and activate or deactivate (fire) one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from b24async.methods.base import ListMethod, Method, to_id, validate_bool
from b24async.models import _convert as cv
from b24async.models.user import User

__all__ = ["GetUsers", "SetUserActive"]


def _user_id(value: int) -> int:
    return to_id(value, "user_id")


def _caller_id(value: int | None) -> int | None:
    return None if value is None else to_id(value, "caller_id")


@attrs.frozen
class SetUserActive(Method[bool]):
    """Activate a user, or deactivate ("fire") them: ``user.update`` with ``ACTIVE``.

    ``user.update``: https://apidocs.bitrix24.com/api-reference/user/user-update.html
    Open Integration Package: ``ChangeUserStatus`` (its ``fire=True`` is ``active=False``).

    ``active`` must be a real ``bool``: the portal reads any non-empty string other than ``"N"``
    as active, so ``active="false"`` would re-activate the user; it is a ``TypeError`` here.
    Needs an admin (or invite rights). Returns ``True``.

    Deactivating the user the credentials act as is applied when that user is an admin: the
    webhook (or token) is then locked out and every later call fails. (A non-admin's own
    ``ACTIVE`` is silently dropped, and ``True`` comes back all the same.) Pass ``caller_id``,
    the ID of the user whose credentials send the request (a webhook URL's ``/rest/{id}/``, or
    ``user.current``'s ``ID``), to have that refused with a ``ValueError`` before anything is
    sent; the CLI always does so unless given ``--force``.
    """

    api_method: ClassVar[str] = "user.update"

    user_id: int = attrs.field(converter=_user_id)
    active: bool = attrs.field(validator=validate_bool)
    caller_id: int | None = attrs.field(default=None, kw_only=True, converter=_caller_id)

    def __attrs_post_init__(self) -> None:
        if not self.active and self.caller_id == self.user_id:
            raise ValueError(
                f"refusing to deactivate user {self.user_id}: the credentials act as that user, "
                "and an admin who deactivates themselves is locked out (every later call "
                "fails); to do it anyway, leave out caller_id"
            )

    @classmethod
    def fire(cls, user_id: int, *, caller_id: int | None = None) -> SetUserActive:
        """Deactivate ``user_id`` (``ACTIVE=N``); refused when it is ``caller_id`` (see above)."""
        return cls(user_id=user_id, active=False, caller_id=caller_id)

    @classmethod
    def reactivate(cls, user_id: int) -> SetUserActive:
        """Activate ``user_id`` again (``ACTIVE=Y``)."""
        return cls(user_id=user_id, active=True)

    def to_params(self) -> dict[str, Any]:
        """``{"ID": id, "ACTIVE": "Y" | "N"}`` (flat params, not ``fields``).

        >>> SetUserActive.fire(7).to_params()
        {'ID': 7, 'ACTIVE': 'N'}
        >>> SetUserActive.reactivate(7).to_params()
        {'ID': 7, 'ACTIVE': 'Y'}
        """
        return {"ID": self.user_id, "ACTIVE": cv.yn(self.active)}

    def parse(self, result: Any) -> bool:
        """``True`` on success."""
        return cv.as_bool(result, self.api_method)


def _filter(value: Mapping[str, Any] | None) -> cv.FrozenMap[str, Any]:
    if value is None:
        return cv.FrozenMap()
    if not isinstance(value, Mapping):
        raise TypeError(f"GetUsers.filter must be a mapping, got {value!r}")
    return cv.FrozenMap(cv.to_wire(value, "GetUsers.filter"))


def _sort(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"GetUsers.sort must be a field name such as 'ID', got {value!r}")
    return value.strip()


def _order(value: str) -> str:
    order = value.strip().upper() if isinstance(value, str) else value
    if order not in ("ASC", "DESC"):
        raise ValueError(f"GetUsers.order must be 'ASC' or 'DESC', got {value!r}")
    return str(order)


def _optional_bool(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        validate_bool(instance, attribute, value)


@attrs.frozen
class GetUsers(ListMethod[User]):
    """List users by filter, 50 per page (use the client's paginator for all of them).

    ``user.get``: https://apidocs.bitrix24.com/api-reference/user/user-get.html

    ``filter`` holds ``user.get`` filter fields, prefixes included (``{"UF_DEPARTMENT": 1}``,
    ``{">ID": 100}``), encoded when the request is built (:mod:`b24async.codec`): dates and aware
    datetimes become ISO-8601, booleans ``"Y"``/``"N"`` (CORE reads an ``ACTIVE`` or
    ``IS_ONLINE`` filter as ``$v && $v !== 'N'``). ``sort``/``order`` become the top-level
    ``SORT``/``ORDER`` that ``user.get`` reads. ``active=True`` (``ACTIVE: "Y"``) excludes fired
    users, ``active=False`` (``"N"``) keeps only them, ``None`` does not filter. Bots, e-mail,
    open-line and replica users are never returned.

    >>> from datetime import datetime, timezone
    >>> since = datetime(2025, 9, 1, tzinfo=timezone.utc)
    >>> params = GetUsers(filter={">LAST_LOGIN": since, "IS_ONLINE": True}, active=True).to_params()
    >>> params["FILTER"]
    {'>LAST_LOGIN': '2025-09-01T00:00:00+00:00', 'IS_ONLINE': 'Y', 'ACTIVE': 'Y'}
    >>> params["SORT"], params["ORDER"]
    ('ID', 'ASC')
    >>> GetUsers(active=False, order="desc").to_params()
    {'FILTER': {'ACTIVE': 'N'}, 'SORT': 'ID', 'ORDER': 'DESC'}
    """

    api_method: ClassVar[str] = "user.get"

    filter: Mapping[str, Any] = attrs.field(default=None, converter=_filter, hash=False)
    sort: str = attrs.field(default="ID", converter=_sort)
    order: str = attrs.field(default="ASC", converter=_order)
    active: bool | None = attrs.field(default=None, validator=_optional_bool)

    def __attrs_post_init__(self) -> None:
        # CORE upper-cases filter keys, so "active" would collide with the ``active`` field.
        if self.active is not None and any(k.upper() == "ACTIVE" for k in self.filter):
            raise ValueError("GetUsers: give ACTIVE either in filter or as active=, not both")

    def to_params(self) -> dict[str, Any]:
        """``{"FILTER": {...}, "SORT": "ID", "ORDER": "ASC"}``; ``FILTER`` only when non-empty."""
        params: dict[str, Any] = {}
        where = dict(self.filter)
        if self.active is not None:
            # "Y"/"N" like every flag (b24async.codec): a JSON false would survive, but a
            # form-encoded "false" is a non-empty string, which CORE reads as active.
            where["ACTIVE"] = cv.yn(self.active)
        if where:
            params["FILTER"] = where
        params["SORT"] = self.sort
        params["ORDER"] = self.order
        return params

    def parse_item(self, raw: Any) -> User:
        """One ``user.get`` row as a :class:`User`."""
        return User.from_wire(raw)
