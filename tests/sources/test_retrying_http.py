"""retrying_http against a real local HTTP server that counts requests: what is retried, for how long."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from tests.sources.doubles import HttpDouble, Recorded, closed_port_url
from zk_pipeline.retrying_http import (
    Backoff, HttpFailed, HttpUnreachable, RETRY_STATUSES, retry_after_s, send_with_retries,
)


class OkDouble(HttpDouble):
    def handle(self, request: Recorded):
        return 200, {}, {"ok": True}


class Clock:
    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture()
def server() -> Iterator[OkDouble]:
    with OkDouble() as double:
        yield double


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def get(url: str, clock: Clock, **kw):
    kw.setdefault("attempts", 4)
    kw.setdefault("backoff", Backoff(first_s=1.0, max_s=8.0, jitter=0.0))
    return send_with_retries(lambda: requests.get(url, timeout=2), f"GET {url}", clock=lambda: clock.now,
                             sleep=clock.sleep, timeout_s=2, **kw)


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_overload_statuses_are_retried(server, clock, status):
    server.fail_next("/x", status, status)
    assert get(f"{server.url}/x", clock).json() == {"ok": True}
    assert server.count("/x") == 3 and clock.sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_client_errors_are_answers_not_retried(server, clock, status):
    server.fail_next("/x", status)
    with pytest.raises(HttpUnreachable, match=f"HTTP {status}, not retried"):
        get(f"{server.url}/x", clock)
    assert server.count("/x") == 1 and clock.sleeps == []


def test_a_caller_may_read_the_other_statuses_itself(server, clock):
    server.fail_next("/x", 401)
    assert get(f"{server.url}/x", clock, return_other_statuses=True).status_code == 401
    server.fail_next("/x", 503)
    assert get(f"{server.url}/x", clock, return_other_statuses=True).status_code == 200  # 503 still retried


def test_jitter_spreads_the_delays_within_their_bounds(server, clock):
    server.fail_next("/x", *[503] * 6)
    with pytest.raises(HttpFailed, match=r"failed after 6 attempt\(s\): HTTP 503"):
        get(f"{server.url}/x", clock, attempts=6, backoff=Backoff(first_s=1.0, max_s=4.0, jitter=0.5))
    for delay, base in zip(clock.sleeps, [1.0, 2.0, 4.0, 4.0, 4.0]):
        assert base <= delay <= base * 1.5
    assert len(set(clock.sleeps)) > 1


def test_retry_after_is_honoured_in_both_forms_up_to_the_cap(server, clock):
    server.fail_next("/x", 429, headers={"Retry-After": "5"})
    server.fail_next("/x", 503, headers={"Retry-After": "600"})
    get(f"{server.url}/x", clock)
    assert clock.sleeps == [5.0, 8.0]  # at least what the server asks, never past the backoff cap
    now = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)
    assert retry_after_s(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7.0
    assert retry_after_s(format_datetime(now - timedelta(seconds=7), usegmt=True), now) == 0.0
    assert retry_after_s("soon") is None and retry_after_s("-3") is None and retry_after_s(None) is None


def test_no_retry_sleeps_past_the_deadline(server, clock):
    server.fail_next("/x", *[503] * 10)
    seen = []
    with pytest.raises(HttpFailed, match=r"after 3 attempt\(s\)"):
        get(f"{server.url}/x", clock, attempts=10, deadline=5.0, on_retry=lambda why, s: seen.append((why, s)))
    assert clock.sleeps == [1.0, 2.0] and seen == [("HTTP 503", 1.0), ("HTTP 503", 2.0)]


def test_nothing_listening_and_unknown_names_fail_at_once_without_the_url(clock):
    url = closed_port_url("/v3/0123456789abcdefSECRETKEY")
    with pytest.raises(HttpUnreachable, match="connection refused") as refused:
        get(url, clock, secrets=[url])
    assert clock.sleeps == [] and refused.value.__context__ is None and refused.value.__cause__ is None
    with pytest.raises(HttpUnreachable, match="DNS lookup failed"):
        get("http://no-such-host.invalid/x", clock)
    assert clock.sleeps == []


def test_timeouts_are_retried_and_named(server, clock):
    server.delay_s = 0.3
    with pytest.raises(HttpFailed, match=r"after 2 attempt\(s\): timed out after 0.1s"):
        send_with_retries(lambda: requests.get(server.url, timeout=0.1), "GET x", attempts=2, timeout_s=0.1,
                          backoff=Backoff(jitter=0.0), sleep=clock.sleep)
    assert server.count() == 2 and clock.sleeps == [0.5]


def test_the_caller_chooses_the_exceptions(server, clock):
    class Down(Exception):
        pass

    server.fail_next("/x", 404)
    with pytest.raises(Down, match="HTTP 404"):
        get(f"{server.url}/x", clock, unreachable=Down)
