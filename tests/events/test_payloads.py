"""Every payload type of the events facts parses from its all-strings wire form (§2.2-§5)."""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import pytest

from b24async.events import (
    CalendarEntryChange,
    EventParseError,
    FormError,
    NewUser,
    event_from_form,
    event_from_offline,
    parse_form,
)
from b24async.testing.phpquery import build_query_php

BASE = "https://x.bitrix24.com"
TOKEN_AUTH = {
    "access_token": "s6p6eclrvim6da22ft9ch94ekreb52lv",
    "expires": "1721289727",
    "expires_in": "3600",
    "scope": "crm,placement,user_brief",
    "domain": "x.bitrix24.com",
    "server_endpoint": "https://oauth.bitrix.info/rest/",
    "status": "L",
    "client_endpoint": f"{BASE}/rest/",
    "member_id": "a223c6b3710f85df22e9377d6c4f7553",
    "user_id": "1",
    "application_token": "51856fefc120afa4b628cc82d3935cce",
}
NO_TOKEN_AUTH = {
    k: TOKEN_AUTH[k]
    for k in ("domain", "server_endpoint", "client_endpoint", "member_id", "application_token")
}


def wire(event: str, data: Any, auth: dict[str, Any], **extra: Any) -> bytes:
    body = {"event": event, "event_handler_id": "12", "data": data, "ts": "1721286127", **extra}
    body["auth"] = auth
    return build_query_php(body).encode()


@pytest.mark.parametrize(
    "name", ["ONCALENDARENTRYADD", "ONCALENDARENTRYUPDATE", "ONCALENDARENTRYDELETE"]
)
def test_calendar_events(name: str) -> None:
    auth = {**TOKEN_AUTH, "refresh_token": "r" * 32}
    event = event_from_form(parse_form(wire(name, {"id": 1414}, auth)))
    assert event.name == name and event.data == CalendarEntryChange(1414)
    assert event.handler_id == 12
    assert event.ts == dt.datetime(2024, 7, 18, 7, 2, 7, tzinfo=dt.timezone.utc)
    assert event.auth is not None and event.auth.refresh_token == "r" * 32
    assert event.auth.expires == dt.datetime.fromtimestamp(1721289727, dt.timezone.utc)
    assert event.auth.scope == ("crm", "placement", "user_brief")


@pytest.mark.parametrize("active", [True, False, "Y", "N"])
def test_onuseradd_flat_record(active: Any) -> None:
    data = {
        "ID": 15, "ACTIVE": active, "NAME": "Ada", "LAST_NAME": "Lovelace", "EMAIL": "a@x.com",
        "UF_DEPARTMENT": [1, 7], "PERSONAL_PHOTO": None, "UF_SKILLS": [],
    }  # fmt: skip
    event = event_from_form(parse_form(wire("ONUSERADD", data, TOKEN_AUTH)))
    assert isinstance(event.data, NewUser)
    assert event.data.id == 15 and event.data.active is (active in (True, "Y"))
    assert event.data.fields["UF_DEPARTMENT"] == ("1", "7")
    assert "PERSONAL_PHOTO" not in event.data.fields and "UF_SKILLS" not in event.data.fields
    assert event.auth is not None and event.auth.refresh_token is None


def test_onappinstall_and_onappuninstall() -> None:
    install_auth = {**TOKEN_AUTH, "refresh_token": "r" * 32}
    data = {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "ru"}
    install = event_from_form(parse_form(wire("ONAPPINSTALL", data, install_auth)))
    assert install.data == {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "ru"}
    uninstall = event_from_form(
        parse_form(wire("ONAPPUNINSTALL", {"LANGUAGE_ID": "ru", "CLEAN": 1}, NO_TOKEN_AUTH))
    )
    auth = uninstall.auth
    assert auth is not None and auth.access_token is None and auth.user_id is None
    assert auth.application_token == TOKEN_AUTH["application_token"]
    assert uninstall.data == {"LANGUAGE_ID": "ru", "CLEAN": "1"}


def test_onofflineevent_has_no_data_on_the_wire() -> None:
    auth = {**TOKEN_AUTH, "refresh_token": "r" * 32}
    event = event_from_form(parse_form(wire("ONOFFLINEEVENT", [], auth)))  # [] is dropped
    assert event.data == {}


def test_other_events_stay_raw_and_frozen() -> None:
    # The captured ONCRMCONTACTADD of the facts (§2.3): FIELDS[ID], expires and user_id.
    event = event_from_form(
        parse_form(wire("ONCRMCONTACTADD", {"FIELDS": {"ID": 7405}}, TOKEN_AUTH))
    )
    assert event.data == {"FIELDS": {"ID": "7405"}}
    with pytest.raises(TypeError):
        event.data["X"] = 1  # type: ignore[index]
    assert pickle.loads(pickle.dumps(event)) == event


def test_tokenless_robot_event_and_space_separated_scope() -> None:
    auth = {**NO_TOKEN_AUTH, "scope": "crm user"}
    event = event_from_form(parse_form(wire("ONCRMDEALUPDATE", {"FIELDS": {"ID": 1}}, auth)))
    assert event.auth is not None and event.auth.scope == ("crm", "user")


def test_secrets_stay_out_of_reprs() -> None:
    auth = {**TOKEN_AUTH, "refresh_token": "refresh-secret-value"}
    event = event_from_form(parse_form(wire("ONCALENDARENTRYADD", {"id": 1}, auth)))
    text = repr(event)
    for secret in (TOKEN_AUTH["access_token"], TOKEN_AUTH["application_token"], "refresh-secret"):
        assert secret not in text
    assert TOKEN_AUTH["member_id"] in text


def test_offline_rows_keep_their_json_types() -> None:
    row = {
        "ID": "3", "TIMESTAMP_X": "2024-07-18T12:32:31+02:00",
        "EVENT_NAME": "ONCALENDARENTRYUPDATE", "EVENT_DATA": {"id": 1414},
        "EVENT_ADDITIONAL": {"user_id": "5"}, "MESSAGE_ID": "a" * 32,
    }  # fmt: skip
    event = event_from_offline(row)
    assert event.data == CalendarEntryChange(1414) and event.auth is None
    assert event.offline is not None and event.offline.user_id == 5
    assert event.ts.utcoffset() == dt.timedelta(hours=2)


@pytest.mark.parametrize(
    "body",
    [b"event=ONX&auth[member_id]=m&auth[application_token]=t&ts=x", b"ts=1&auth[domain]=d"],
)
def test_malformed_events(body: bytes) -> None:
    with pytest.raises(EventParseError):
        event_from_form(parse_form(body))


def test_malformed_forms() -> None:
    for body in (b"\xff", b"a=1&a[b]=2", b"a[b]=1&a=2", b"=x"):
        with pytest.raises(FormError):
            parse_form(body)
    assert parse_form(b"a[]=x&a[]=y&b[c][0]=1") == {"a": ["x", "y"], "b": {"c": ["1"]}}
