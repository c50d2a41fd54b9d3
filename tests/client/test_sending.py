"""The sending decisions, table-driven over the facts file's error table (§6) and limits (§2).

Plain functions: no event loop, no portal, no clock. Each row is what a real portal can answer
and what the client must do next, for an idempotent call and for a write that must not run
twice.
"""

from __future__ import annotations

import pickle
import random

import pytest

from b24async.errors import (
    ApiError,
    B24Error,
    ClientClosed,
    DecodeError,
    OperationTimeLimit,
    QueryLimitExceeded,
    RedirectError,
    TransportError,
    make_api_error,
)
from b24async.retry import RetryPolicy
from b24async.sending import (
    FollowRedirect,
    Raise,
    RefreshToken,
    SendAgain,
    SendingFlow,
    Sleep,
    Step,
)

POLICY = RetryPolicy(attempts=3, limit_attempts=4, backoff=1.0, max_backoff=8.0)


def flow(*, idempotent: bool, method: str = "user.get", **kwargs: object) -> SendingFlow:
    return SendingFlow(
        method,
        idempotent,
        POLICY,
        rng=random.Random(1),
        **kwargs,  # type: ignore[arg-type]
    )


# (code, HTTP status) as the facts file lists them, with the step for (idempotent, write).
# Where the sources disagree on the status, each status is a row: the decision must not move.
API_TABLE: list[tuple[str, int, type[Step], type[Step]]] = [
    ("INTERNAL_SERVER_ERROR", 500, Sleep, Raise),
    ("ERROR_UNEXPECTED_ANSWER", 500, Sleep, Raise),
    ("QUERY_LIMIT_EXCEEDED", 503, SendAgain, SendAgain),
    ("QUERY_LIMIT_EXCEEDED", 429, SendAgain, SendAgain),  # before Dec 2024
    ("OPERATION_TIME_LIMIT", 429, SendAgain, SendAgain),
    ("OPERATION_TIME_LIMIT", 200, SendAgain, SendAgain),  # inside a batch
    ("ERROR_BATCH_METHOD_NOT_ALLOWED", 405, Raise, Raise),
    ("ERROR_BATCH_LENGTH_EXCEEDED", 400, Raise, Raise),
    ("NO_AUTH_FOUND", 401, Raise, Raise),
    ("INVALID_REQUEST", 400, Raise, Raise),
    ("INVALID_REQUEST", 401, Raise, Raise),
    ("OVERLOAD_LIMIT", 503, Raise, Raise),  # a manual block, not the bucket
    ("OVERLOAD_LIMIT", 401, Raise, Raise),
    ("ACCESS_DENIED", 403, Raise, Raise),
    ("ACCESS_DENIED", 401, Raise, Raise),
    ("INVALID_CREDENTIALS", 403, Raise, Raise),
    ("INVALID_CREDENTIALS", 401, Raise, Raise),
    ("ERROR_MANIFEST_IS_NOT_AVAILABLE", 404, Raise, Raise),
    ("insufficient_scope", 403, Raise, Raise),
    ("insufficient_scope", 401, Raise, Raise),
    ("expired_token", 401, RefreshToken, RefreshToken),
    ("EXPIRED_TOKEN", 401, RefreshToken, RefreshToken),
    ("invalid_token", 401, RefreshToken, RefreshToken),
    ("user_access_error", 403, Raise, Raise),
    ("user_access_error", 401, Raise, Raise),
    ("PORTAL_DELETED", 500, Raise, Raise),  # a 500 that is no server failure
    ("PORTAL_DELETED", 403, Raise, Raise),
    ("PORTAL_DELETED", 410, Raise, Raise),
    ("ERROR_METHOD_NOT_FOUND", 404, Raise, Raise),
    ("WRONG_AUTH_TYPE", 403, Raise, Raise),
    ("METHOD_CONFIRM_WAITING", 401, Raise, Raise),
    ("METHOD_CONFIRM_DENIED", 403, Raise, Raise),
    ("authorization_error", 401, Raise, Raise),
    ("APPLICATION_NOT_FOUND", 401, Raise, Raise),
    ("ERROR_OAUTH", 401, Raise, Raise),
    ("PAYMENT_REQUIRED", 401, Raise, Raise),
    ("invalid_grant", 400, Raise, Raise),
    ("ERROR_CORE", 400, Raise, Raise),
    ("ERROR_ARGUMENT", 400, Raise, Raise),
    ("", 400, Raise, Raise),
    ("SOMETHING_NEW", 400, Raise, Raise),
    ("SOMETHING_NEW", 502, Sleep, Raise),  # unknown code with a 5xx: server trouble
    ("SOMETHING_NEW", 503, Sleep, Raise),  # not proof of a limit
]


@pytest.mark.parametrize(("code", "status", "for_read", "for_write"), API_TABLE)
def test_api_error_table(
    code: str, status: int, for_read: type[Step], for_write: type[Step]
) -> None:
    for idempotent, expected in ((True, for_read), (False, for_write)):
        error = make_api_error(code, "text", status=status, method="user.get")
        step = flow(idempotent=idempotent).failed(error)
        assert type(step) is expected, (code, status, idempotent, step)
        if isinstance(step, Raise):
            assert step.error is error  # raised as it came, not rewrapped


# Errors without an HTTP answer (or without a Bitrix24 one): sent vs not sent.
OTHER_TABLE: list[tuple[B24Error, type[Step], type[Step]]] = [
    (TransportError("timed out", sent=True), Sleep, Raise),
    (TransportError("cannot connect", sent=False), Sleep, Sleep),  # never left: safe to resend
    (DecodeError("not JSON", raw=b"<html>502</html>", status=502), Sleep, Raise),
    (DecodeError("no result", raw=b"{}", status=200), Sleep, Raise),
    (ClientClosed(sent=False), Raise, Raise),
    (ClientClosed(sent=True), Raise, Raise),
]


@pytest.mark.parametrize(("error", "for_read", "for_write"), OTHER_TABLE)
def test_transport_and_decode_table(
    error: B24Error, for_read: type[Step], for_write: type[Step]
) -> None:
    for idempotent, expected in ((True, for_read), (False, for_write)):
        step = flow(idempotent=idempotent).failed(error)
        assert type(step) is expected, (error, idempotent, step)


def kinds(steps: list[Step]) -> list[str]:
    return [type(s).__name__ for s in steps]


def test_ambiguous_failures_stop_at_attempts() -> None:
    f = flow(idempotent=True)
    steps = [f.failed(TransportError("reset", sent=True)) for _ in range(4)]
    assert kinds(steps) == ["Sleep", "Sleep", "Raise", "Raise"]  # attempts=3: 3 tries in all
    first, second = steps[0], steps[1]
    assert isinstance(first, Sleep) and isinstance(second, Sleep)
    assert 0.5 <= first.seconds <= 1.0 and 1.0 <= second.seconds <= 2.0  # doubling, jittered


def test_no_retry_policy_raises_the_first_ambiguous_failure() -> None:
    f = SendingFlow("user.get", True, RetryPolicy.never())
    assert isinstance(f.failed(TransportError("reset", sent=False)), Raise)
    assert isinstance(
        f.failed(QueryLimitExceeded("QUERY_LIMIT_EXCEEDED", "", status=503)), SendAgain
    )


def test_query_limit_retries_at_once_then_backs_off_then_gives_up() -> None:
    f = flow(idempotent=False, method="crm.lead.add")
    error = QueryLimitExceeded("QUERY_LIMIT_EXCEEDED", "Too many requests", status=503)
    steps = [f.failed(error) for _ in range(4)]
    assert kinds(steps) == ["SendAgain", "Sleep", "Sleep", "Raise"]  # limit_attempts=4
    assert isinstance(steps[-1], Raise) and steps[-1].error is error


def test_operating_limit_gives_up_with_reset_at_on_a_new_error() -> None:
    f = flow(idempotent=True)
    error = OperationTimeLimit("OPERATION_TIME_LIMIT", "blocked", status=429, method="user.get")
    steps = [f.failed(error, reset_at=1000.0 + i) for i in range(4)]
    assert kinds(steps) == ["SendAgain", "SendAgain", "SendAgain", "Raise"]
    last = steps[-1]
    assert isinstance(last, Raise) and isinstance(last.error, OperationTimeLimit)
    assert last.error is not error and last.error.reset_at == 1003.0
    assert (last.error.code, last.error.status, last.error.method) == (
        "OPERATION_TIME_LIMIT",
        429,
        "user.get",
    )
    assert error.reset_at is None  # the original is untouched


def test_limit_hits_and_ambiguous_failures_are_counted_apart() -> None:
    f = flow(idempotent=True)
    limit = QueryLimitExceeded("QUERY_LIMIT_EXCEEDED", "", status=503)
    server = make_api_error("INTERNAL_SERVER_ERROR", "", status=500)
    assert kinds([f.failed(server), f.failed(limit), f.failed(limit), f.failed(server)]) == [
        "Sleep",
        "SendAgain",
        "Sleep",
        "Sleep",
    ]
    assert (f.attempts, f.limit_hits) == (2, 2)
    assert isinstance(f.failed(server), Raise)


@pytest.mark.parametrize("can_refresh", [True, False])
def test_token_error_refreshes_once(can_refresh: bool) -> None:
    f = flow(idempotent=False)
    expired = make_api_error("expired_token", "The access token provided has expired", status=401)
    assert isinstance(f.failed(expired), RefreshToken)
    after = f.refreshed(can_refresh)
    if can_refresh:
        assert isinstance(after, SendAgain) and not after.retry  # not a retry: nothing failed
        again = f.failed(expired)  # the fresh token is refused too: give up, no second refresh
        assert isinstance(again, Raise) and again.error is expired
    else:  # a webhook, or no refresh token: the token error is the answer
        assert isinstance(after, Raise) and after.error is expired


def test_refreshed_without_a_refresh_step_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        flow(idempotent=True).refreshed(True)


def test_transport_error_gets_the_method_on_a_new_redacted_error() -> None:
    f = SendingFlow("user.get", False, POLICY, redact=lambda text: text.replace("s3cr3t", "***"))
    original = TransportError("reset while sending to /rest/1/s3cr3t/", sent=True)
    step = f.failed(original)
    assert isinstance(step, Raise) and isinstance(step.error, TransportError)
    assert step.error is not original and original.method == ""
    assert step.error.method == "user.get" and step.error.sent
    assert str(step.error) == "user.get: reset while sending to /rest/1/***/"


def test_redirects_are_followed_up_to_the_limit() -> None:
    f = flow(idempotent=False, max_redirects=2)
    steps = [f.redirected(302, "https://new.bitrix24.com/rest/1/code/user.get") for _ in range(3)]
    assert steps[:2] == [FollowRedirect("https://new.bitrix24.com")] * 2
    last = steps[2]
    assert isinstance(last, Raise) and isinstance(last.error, RedirectError)
    assert "too many redirects" in str(last.error) and not isinstance(last.error, DecodeError)
    assert last.error.status == 302 and last.error.method == "user.get"
    assert not last.error.may_have_applied


@pytest.mark.parametrize(
    "location",
    [
        "http://portal.example/rest/",  # plain http to a real host
        "/rest/1/code/user.get",  # no host
        "https://new.bitrix24.com/rest/?x=1",  # a query
        "ftp://new.bitrix24.com/",
    ],
)
def test_redirects_that_may_not_be_followed(location: str) -> None:
    step = flow(idempotent=True).redirected(301, location)
    assert isinstance(step, Raise) and isinstance(step.error, RedirectError)
    assert "not followed" in str(step.error)


def test_redirect_error_masks_the_webhook_code() -> None:
    f = SendingFlow("user.get", True, POLICY, redact=lambda t: t.replace("c0de", "***"))
    step = f.redirected(302, "http://portal.example/rest/1/c0de/user.get")
    assert isinstance(step, Raise)
    assert "c0de" not in str(step.error) and "c0de" not in repr(pickle.dumps(step.error))


def test_decisions_do_not_touch_the_errors() -> None:
    error = make_api_error("INTERNAL_SERVER_ERROR", "boom", status=500, method="x.get")
    before = (error.args, dict(error.__dict__))
    f = flow(idempotent=True)
    while not isinstance(f.failed(error), Raise):
        pass
    assert (error.args, error.__dict__) == before
    assert isinstance(error, ApiError)
