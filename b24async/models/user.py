"""User records as returned by ``user.get`` (and ``user.current``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from b24async.models import _convert as cv

__all__ = ["User"]

# Wire keys turned into attributes; everything else stays in ``User.extra``.
_KNOWN = (
    "ID",
    "ACTIVE",
    "NAME",
    "LAST_NAME",
    "EMAIL",
    "UF_DEPARTMENT",
    "IS_ONLINE",
    "LAST_LOGIN",
    "DATE_REGISTER",
    "USER_TYPE",
)


def _departments(value: Any) -> tuple[int, ...]:
    # UF_DEPARTMENT is int[] in user.get, but CORE also stores a bare scalar, and extranet users
    # may have false/null/"" (no department).
    if value is None or value is False or value == "":
        return ()
    items: Iterable[Any] = value if isinstance(value, list) else [value]
    return tuple(cv.as_int(item, "UF_DEPARTMENT") for item in items)


@attrs.frozen(kw_only=True)
class User:
    """A portal user.

    ``name``, ``last_name``, ``email`` and ``user_type`` are ``None`` when the field is absent
    (narrower scopes such as ``user_brief`` return fewer fields) or empty. ``is_online`` is
    ``None`` when absent. ``last_login``/``date_register`` are aware datetimes or ``None`` (never
    logged in). ``extra`` keeps every other wire field as sent (``SECOND_NAME``, ``UF_*``, ...).
    """

    id: int
    active: bool
    name: str | None = None
    last_name: str | None = None
    email: str | None = None
    departments: tuple[int, ...] = ()
    is_online: bool | None = None
    last_login: datetime | None = None
    date_register: datetime | None = None
    user_type: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=cv.FrozenMap, converter=cv.freeze, hash=False)

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> User:
        """Build from one ``user.get`` row (``ID`` string, ``ACTIVE`` bool, ``IS_ONLINE`` Y/N).

        >>> user = User.from_wire({"ID": "31", "ACTIVE": True, "IS_ONLINE": "N",
        ...                        "LAST_LOGIN": "2024-07-25T16:06:54+03:00", "UF_DEPARTMENT": [1],
        ...                        "SECOND_NAME": ""})
        >>> user.id, user.active, user.is_online, user.departments
        (31, True, False, (1,))
        >>> user.last_login.isoformat(), dict(user.extra)
        ('2024-07-25T16:06:54+03:00', {'SECOND_NAME': ''})
        """
        if not isinstance(raw, Mapping):
            raise ValueError(f"user: expected an object, got {raw!r}")
        if "ACTIVE" not in raw:
            raise ValueError(f"user {raw.get('ID')!r}: ACTIVE is missing")
        return cls(
            id=cv.as_int(raw.get("ID"), "ID"),
            active=cv.as_bool(raw["ACTIVE"], "ACTIVE"),
            name=cv.as_opt_str(raw.get("NAME"), "NAME"),
            last_name=cv.as_opt_str(raw.get("LAST_NAME"), "LAST_NAME"),
            email=cv.as_opt_str(raw.get("EMAIL"), "EMAIL"),
            departments=_departments(raw.get("UF_DEPARTMENT")),
            is_online=cv.as_opt_bool(raw.get("IS_ONLINE"), "IS_ONLINE"),
            last_login=cv.as_opt_datetime(raw.get("LAST_LOGIN"), "LAST_LOGIN"),
            date_register=cv.as_opt_datetime(raw.get("DATE_REGISTER"), "DATE_REGISTER"),
            user_type=cv.as_opt_str(raw.get("USER_TYPE"), "USER_TYPE"),
            extra=cv.split_extra(raw, _KNOWN),
        )
