"""HTTP requests retried the one way the project retries them (with tenacity).

Remote services fail in a handful of ordinary ways: the connection drops or
times out, the server is briefly overloaded (5xx), or it asks us to slow down
(429, often with ``Retry-After``). Those are retried a bounded number of times
(and never past a deadline, when the caller has one) with exponential backoff
plus random jitter, so that clients failing together do not retry together;
``Retry-After`` is honoured up to the backoff cap. A definite answer is not
retried: a name that does not resolve, nothing listening on the port, no
route to the network, or any other 4xx. Waiting would not change it, so an
offline machine fails in seconds with the cause instead of minutes of backoff.

The caller says which exceptions to raise (``failed`` after the retries,
``unreachable`` for a definite answer): a metrics source raises its
``SourceError``/``SourceUnreachable``. Messages name the request as the caller
describes it (``what``, with its URL already redacted) and quote exception
text only through ``redaction.public_text``; the raised exception chains
nothing, since the HTTP stack's exceptions repeat the full URL.
"""

from __future__ import annotations

import errno
import random
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from zk_pipeline.redaction import public_text

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Quoted exception text is cut to this length (some quote whole responses).
MAX_REASON_CHARS = 240


class HttpFailed(RuntimeError):
    """The request kept failing in ways worth retrying, until the attempts (or the time) ran out."""


class HttpUnreachable(HttpFailed):
    """A definite answer that waiting will not change (DNS, connection refused, no route, a 4xx)."""


@dataclass(frozen=True)
class Backoff:
    """Delays before retry ``n`` (1-based): ``first_s * 2**(n-1)``, capped at ``max_s``, plus up to
    ``jitter`` of itself at random; at least a server's ``Retry-After`` (itself capped at ``max_s``)."""

    first_s: float = 0.5
    max_s: float = 8.0
    jitter: float = 0.25

    def delay(self, retry: int, retry_after: float | None = None, rand: Callable[[], float] = random.random) -> float:
        delay = min(self.max_s, self.first_s * 2 ** (retry - 1))
        delay += delay * self.jitter * rand()
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_s))
        return delay


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class _Definite(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def send_with_retries(
    send: Callable[[], requests.Response],
    what: str,
    *,
    attempts: int,
    backoff: Backoff = Backoff(),
    timeout_s: float | None = None,
    secrets: Iterable[str] = (),
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[str, float], None] | None = None,
    return_other_statuses: bool = False,
    failed: type[Exception] = HttpFailed,
    unreachable: type[Exception] = HttpUnreachable,
) -> requests.Response:
    """``send()``'s response once it is not a failure worth retrying.

    ``what`` names the request in messages (``GET https://host/path``, redacted). ``secrets``: values
    that exception text may repeat (the full URL, query values). ``deadline`` (on ``clock``): no retry
    would sleep past it. ``on_retry(reason, delay)`` is told before each sleep. Any other status but
    2xx (a 4xx, a redirect not followed) raises ``unreachable``, or is returned with
    ``return_other_statuses`` (for a caller that reads it: 401 means a wrong key, 3xx where to go).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    secrets = [s for s in secrets if s]
    tried = 0

    def attempt() -> requests.Response:
        nonlocal tried
        tried += 1
        definite = None
        try:
            response = send()
        except requests.Timeout:
            raise _Transient(f"timed out after {timeout_s:g}s" if timeout_s else "timed out") from None
        except requests.RequestException as exc:
            definite = network_cause(exc)
            reason = f"{type(exc).__name__}: {public_text(str(exc), secrets, limit=MAX_REASON_CHARS)}"
        else:
            status = response.status_code
            if status in RETRY_STATUSES:
                raise _Transient(f"HTTP {status}", retry_after_s(response.headers.get("Retry-After")))
            if not 200 <= status < 300 and not return_other_statuses:
                raise _Definite(f"HTTP {status}")
            return response
        if definite is not None:
            raise _Definite(definite)
        raise _Transient(reason)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return backoff.delay(state.attempt_number, getattr(error, "retry_after", None))

    def past_deadline(state: RetryCallState) -> bool:
        return deadline is not None and clock() + (state.upcoming_sleep or 0.0) >= deadline

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            on_retry(str(state.outcome.exception()), state.upcoming_sleep)

    retrying = Retrying(stop=stop_after_attempt(attempts) | past_deadline, wait=wait, sleep=sleep,
                        retry=retry_if_exception_type(_Transient), before_sleep=before_sleep, reraise=True)
    try:
        return retrying(attempt)
    except _Transient as exc:
        error = failed(f"{what} failed after {tried} attempt(s): {exc.reason}")
    except _Definite as exc:
        error = unreachable(f"{exc.reason}, not retried: {what}")
    raise error  # outside the handlers: nothing holding the full URL is chained to it


_DEFINITE_ERRNOS = {errno.ECONNREFUSED: "connection refused (nothing listens there)",
                    errno.ENETUNREACH: "network unreachable (no network?)",
                    errno.EHOSTUNREACH: "host unreachable"}


def network_cause(exc: BaseException) -> str | None:
    """A short cause for failures that waiting will not fix, else ``None``.

    ``requests`` wraps urllib3 which wraps the socket error (aiohttp wraps it
    too), so the chain (``__cause__``/``__context__``, urllib3's ``reason``,
    exception arguments) is searched for the resolver's or the kernel's answer.
    """
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError":
            return "DNS lookup failed (name does not resolve; no network?)"
        if isinstance(e, OSError) and e.errno in _DEFINITE_ERRNOS:
            return _DEFINITE_ERRNOS[e.errno]
        stack += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        stack += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    return None


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: its delay-seconds form or its HTTP-date form; ``None`` if absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
        return max(seconds, 0.0)
    return seconds if seconds >= 0 else None
