"""A small JSON-over-HTTP helper shared by the live sources.

Public APIs fail in a handful of ordinary ways: the connection drops, the
server is briefly overloaded (5xx), or it asks us to slow down (429). Those
are retried a bounded number of times with exponential backoff, because the
hourly run would otherwise fail on a blip; anything else (4xx, a body that is
not JSON) is a real answer and fails at once. Every failure surfaces as
``SourceError``, which Dagster retries at the asset level.

Successful responses are cached in memory for a short time (60 s by default)
so that one run asking for the same resource twice costs one request.

URLs may carry credentials (an RPC provider key in the path, ``?apikey=`` in
the query, ``user:pass@``). Error messages only ever show ``redact_url``'s
form of a URL, and exception text from the HTTP stack is scrubbed with
``redact_text`` before it is quoted, because that text often repeats the URL.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests

from zk_pipeline.sources.base import SourceError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDACTED = "***"
_MAX_REASON_CHARS = 240
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+")


def _is_secret_segment(segment: str) -> bool:
    """Long opaque path segments are treated as secrets (provider keys, UUIDs).

    Hex addresses and decimal numbers are public on-chain identifiers (token
    addresses, chain ids) and stay readable, since they are what make an error
    message useful.
    """
    if len(segment) < 16:
        return False
    if _HEX_RE.fullmatch(segment) or segment.isdigit():
        return False
    return True


def redact_url(url: str) -> str:
    """``url`` without credentials, query values or secret-looking path segments."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    netloc = parts.hostname or ""
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = "/".join(_REDACTED if _is_secret_segment(s) else s for s in parts.path.split("/"))
    redacted = urlunsplit((parts.scheme, netloc, path, "", ""))
    return redacted + (f"?{_REDACTED}" if parts.query else "")


def _secrets_of(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.query, parts.username or "", parts.password or ""]
    found += [s for s in parts.path.split("/") if _is_secret_segment(s)]
    found += [v for _, v in parse_qsl(parts.query, keep_blank_values=True)]
    return [s for s in found if len(s) >= 4]


def redact_text(text: str, urls: Iterable[str], extra_secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``urls`` shown redacted and any leftover secret part blanked out."""
    urls = list(urls)
    for url in sorted(urls, key=len, reverse=True):
        text = text.replace(url, redact_url(url))
    secrets = [s for u in urls for s in _secrets_of(u)]
    secrets += [s for s in extra_secrets if s and len(s) >= 4]
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    if len(text) > _MAX_REASON_CHARS:
        text = text[: _MAX_REASON_CHARS - 1] + "…"
    return text


class HttpClient:
    """GET JSON with timeouts, bounded retries with backoff, and a TTL cache.

    ``sleep`` and ``clock`` are injectable so tests can observe the backoff
    schedule and age the cache without waiting.
    """

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        cache_ttl_s: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.cache_ttl_s = cache_ttl_s
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        key = (url, tuple(sorted((str(k), str(v)) for k, v in (params or {}).items())))
        body = self._cached(key)
        if body is not None:
            return json.loads(body)
        body = self._get_with_retries(url, dict(key[1]))
        try:
            value = json.loads(body)
        except ValueError:
            raise SourceError(f"GET {redact_url(url)}: response is not valid JSON") from None
        # Only answers that parsed are kept, so a retry after a garbled body asks again.
        with self._lock:
            self._cache[key] = (self._clock() + self.cache_ttl_s, body)
        return value

    def _cached(self, key: tuple[str, tuple[tuple[str, str], ...]]) -> str | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                return None
            expires, body = hit
            if self._clock() >= expires:
                del self._cache[key]
                return None
            return body

    def _backoff(self, attempt: int, retry_after: float | None = None) -> float:
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        return delay

    def _get_with_retries(self, url: str, params: dict[str, str]) -> str:
        try:
            full_url = requests.Request("GET", url, params=params).prepare().url or url
        except requests.RequestException:
            raise SourceError(f"GET {redact_url(url)}: not a valid URL") from None
        reason = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                response = self._session.get(url, params=params, timeout=self.timeout_s)
            except requests.Timeout:
                reason = f"timed out after {self.timeout_s:g}s"
            except requests.RequestException as exc:
                detail = redact_text(str(exc), [full_url, url], params.values())
                reason = f"{type(exc).__name__}: {detail}"
            else:
                if response.status_code < 300:
                    return response.text
                reason = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    raise SourceError(f"GET {redact_url(url)} failed: {reason} (not retried)")
                retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            if attempt < self.max_attempts:
                self._sleep(self._backoff(attempt, retry_after))
        raise SourceError(f"GET {redact_url(url)} failed after {self.max_attempts} attempt(s): {reason}")


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds form only; the HTTP-date form is rare for APIs and falls back to backoff."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
