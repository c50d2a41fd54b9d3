"""Credentials: URL parsing, the http/https rule, redaction."""

from __future__ import annotations

import pytest

from b24async import Bitrix24
from b24async.auth import OAuthCredentials, WebhookCredentials, parse_portal_url


def test_parse_webhook_and_portal_addresses() -> None:
    assert parse_portal_url("https://p.bitrix24.com/rest/1/abc123/") == (
        "https://p.bitrix24.com",
        "1",
        "abc123",
    )
    assert parse_portal_url("p.bitrix24.com/rest/1/abc123") == (
        "https://p.bitrix24.com",
        "1",
        "abc123",
    )
    assert parse_portal_url("p.bitrix24.com") == ("https://p.bitrix24.com", None, None)
    assert parse_portal_url("https://p.bitrix24.com/rest/") == (
        "https://p.bitrix24.com",
        None,
        None,
    )
    assert parse_portal_url("http://127.0.0.1:8080/rest/1/x/")[0] == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "http://p.bitrix24.com/rest/1/abc/",  # plain http to a real host
        "ftp://p.bitrix24.com",
        "https://p.bitrix24.com/rest/1/abc/extra/",
        "https://p.bitrix24.com/other",
        "https://p.bitrix24.com/rest/1/abc/?x=1",
    ],
)
def test_bad_urls_raise_before_any_request(url: str) -> None:
    with pytest.raises(ValueError):
        Bitrix24(url)


def test_webhook_plus_token_is_ambiguous() -> None:
    with pytest.raises(ValueError, match="either"):
        Bitrix24("https://p.bitrix24.com/rest/1/abc/", token="t")
    with pytest.raises(ValueError, match="not a webhook"):
        Bitrix24("https://p.bitrix24.com")
    with pytest.raises(ValueError, match="need token"):
        Bitrix24("https://p.bitrix24.com/rest/1/abc/", client_secret="s")


def test_secrets_are_redacted_everywhere() -> None:
    hook = WebhookCredentials("https://p.bitrix24.com", "1", "s3cr3tcode")
    assert "s3cr3tcode" not in repr(hook)
    assert hook.redact("GET https://p.bitrix24.com/rest/1/s3cr3tcode/user.get") == (
        "GET https://p.bitrix24.com/rest/1/***/user.get"
    )
    oauth = OAuthCredentials(
        "https://p.bitrix24.com",
        "ACCESS-TOKEN",
        refresh_token="REFRESH-TOKEN",
        client_id="id",
        client_secret="CLIENT-SECRET",
    )
    assert "ACCESS-TOKEN" not in repr(oauth)
    assert oauth.redact("ACCESS-TOKEN REFRESH-TOKEN CLIENT-SECRET") == "*** *** ***"
    client = Bitrix24("https://p.bitrix24.com/rest/1/s3cr3tcode/")
    assert "s3cr3tcode" not in repr(client)
