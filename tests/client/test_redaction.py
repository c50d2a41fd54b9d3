"""Secrets are masked where they occur as secrets, never as substrings of ordinary text.

A webhook code can be one character (``e``) and a token two (``on``): masking every occurrence
turned ``{"error": ...}`` into ``{"***rror": ...}`` and ``exception`` into ``excepti***``,
mangling keys and showing where the secret was.
"""

from __future__ import annotations

import logging

import pytest

from b24async import Bitrix24, RetryPolicy
from b24async.auth import OAuthCredentials, WebhookCredentials
from b24async.cli.output import Redactor
from b24async.redaction import redact
from b24async.testing import FakePortal, Faults

SHORT = ["e", "on", "x1", "rror"]

ORDINARY = (
    '{"error":"INVALID_CREDENTIALS","error_description":"Invalid request credentials"} '
    "exception on the portal: one more error; expired_token, the token was revoked"
)


@pytest.mark.parametrize("code", SHORT)
def test_ordinary_text_is_untouched(code: str) -> None:
    assert redact(ORDINARY, [code]) == ORDINARY
    assert WebhookCredentials("https://p.bitrix24.com", "1", code).redact(ORDINARY) == ORDINARY
    oauth = OAuthCredentials(
        "https://p.bitrix24.com", code, refresh_token=code, client_id="id", client_secret=code
    )
    assert oauth.redact(ORDINARY) == ORDINARY
    assert Redactor([f"https://p.bitrix24.com/rest/1/{code}/", code])(ORDINARY) == ORDINARY


@pytest.mark.parametrize("code", SHORT)
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "POST https://p.bitrix24.com/rest/1/{s}/user.get",
            "POST https://p.bitrix24.com/rest/1/***/user.get",
        ),
        ("https://p.bitrix24.com/rest/1/{s}", "https://p.bitrix24.com/rest/1/***"),
        (
            '{"url":"https:\\/\\/p\\/rest\\/1\\/{s}\\/user.get"}',
            '{"url":"https:\\/\\/p\\/rest\\/1\\/***\\/user.get"}',
        ),
        (
            "/oauth/token/?grant_type=refresh_token&client_secret={s}&refresh_token={s}",
            "/oauth/token/?grant_type=refresh_token&client_secret=***&refresh_token=***",
        ),
        ("user.get?ID=1&auth={s}", "user.get?ID=1&auth=***"),
        ('{"auth":"{s}","ID":1}', '{"auth":"***","ID":1}'),
        (
            '{"access_token": "{s}", "refresh_token": "{s}", "expires": 1}',
            '{"access_token": "***", "refresh_token": "***", "expires": 1}',
        ),
        ("{'client_secret': '{s}', 'scope': 'user'}", "{'client_secret': '***', 'scope': 'user'}"),
        ("Authorization: Bearer {s}", "Authorization: Bearer ***"),
    ],
)
def test_secret_positions_are_masked_whatever_the_length(
    code: str, template: str, expected: str
) -> None:
    text = template.replace("{s}", code)
    assert redact(text, [code]) == expected
    assert WebhookCredentials("https://p.bitrix24.com", "1", code).redact(text) == expected
    assert Redactor([code])(text) == expected


def test_long_secrets_are_masked_anywhere_but_not_inside_words() -> None:
    token = "0a1b2c3d4e5f6789"
    assert redact(f"token {token} expired", [token]) == "token *** expired"
    assert redact(f"x{token}y", [token]) == f"x{token}y"  # part of something else: not this one
    assert redact("short tok", ["tok"]) == "short tok"  # short and in no secret position


async def test_short_webhook_code_error_text_is_intact(caplog: pytest.LogCaptureFixture) -> None:
    """The reported case: a wrong one-letter code against the portal, with faults on the way."""
    caplog.set_level(logging.DEBUG, logger="b24async")
    texts: list[str] = []
    faults = Faults(error_500=0.3, html_502=0.3, seed=5)
    async with FakePortal(faults=faults) as portal:
        for code in ("e", "on"):
            url = f"{portal.url}/rest/1/{code}/"
            retry = RetryPolicy(attempts=3, backoff=0.01)
            async with Bitrix24(url, retry=retry, coalesce=False) as b24:
                texts.append(repr(b24))
                assert f"/rest/1/{code}/" not in repr(b24)
                for _ in range(3):
                    try:
                        await b24.call("user.get")
                    except Exception as exc:
                        texts += [str(exc), repr(exc), getattr(exc, "code", "")]
    texts += [record.getMessage() for record in caplog.records]
    blob = "\n".join(texts)
    assert "INVALID_CREDENTIALS" in blob
    assert "***" not in blob.replace("/rest/1/***/", "").replace("WebhookCredentials", "")
    for code in ("e", "on"):
        assert f"/rest/1/{code}/" not in blob
