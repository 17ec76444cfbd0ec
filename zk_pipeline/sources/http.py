"""A small JSON-over-HTTP helper shared by the live sources.

Requests go through ``retrying_http`` (bounded retries of connection errors,
timeouts, 429 and 5xx, with backoff and jitter), because the hourly run would
otherwise fail on a blip; a body that is not JSON is a real answer and fails
at once. Every failure surfaces as ``SourceError``, which Dagster retries at
the asset level; a definite "no" from the network (the name does not resolve,
nothing listens, no route, a 4xx) is ``SourceUnreachable``, retried nowhere,
with its cause in the message.

Successful responses are cached in memory for a short time (60 s by default)
in one cache per *process*, shared by every ``HttpClient``: the resource
builds a new source (and so a new client) on every run, so a cache kept in
the client would only ever help inside one fetch. Shared, it also lets the
materializations of an in-process backfill, or the API server's runs, reuse
answers younger than the TTL. Entries are keyed by URL (base URL and path)
and query parameters, and by the client's clock, because timestamps taken
from different clocks (an injected test clock, ``time.monotonic``) cannot be
compared; each client applies its own TTL to an entry's age.

URLs may carry credentials (an RPC provider key in the path, ``?apikey=`` in
the query, ``user:pass@``). Error messages only ever show ``redact_url``'s
form of a URL, and exception text from the HTTP stack goes through
``redaction.public_text`` before it is quoted, because that text often repeats the URL.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from zk_pipeline.redaction import redact_url
from zk_pipeline.retrying_http import Backoff, send_with_retries
from zk_pipeline.sources.base import SourceError, SourceUnreachable

#: Beyond this many entries the oldest are dropped, so a long-lived process stays small.
_CACHE_MAX_ENTRIES = 512

_CacheKey = tuple[Callable[[], float], str, tuple[tuple[str, str], ...]]
#: The process-wide response cache: key -> (time stored, by the key's clock; body).
_cache: dict[_CacheKey, tuple[float, str]] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached response of every client in this process."""
    with _cache_lock:
        _cache.clear()


class HttpClient:
    """GET JSON with timeouts, bounded retries with backoff, and a TTL cache shared per process.

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
        jitter: float = 0.25,
        cache_ttl_s: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff = Backoff(first_s=backoff_s, max_s=backoff_max_s, jitter=jitter)
        self.cache_ttl_s = cache_ttl_s
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock

    def clear_cache(self) -> None:
        """Empty the process-wide cache (it is shared, so this affects every client)."""
        clear_cache()

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        query = tuple(sorted((str(k), str(v)) for k, v in (params or {}).items()))
        key = (self._clock, url, query)
        body = self._cached(key)
        if body is not None:
            return json.loads(body)
        body = self._get(url, dict(query))
        try:
            value = json.loads(body)
        except ValueError:
            raise SourceError(f"GET {redact_url(url)}: response is not valid JSON") from None
        # Only answers that parsed are kept, so a retry after a garbled body asks again.
        if self.cache_ttl_s > 0:
            self._store(key, body)
        return value

    def _cached(self, key: _CacheKey) -> str | None:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is None:
                return None
            stored, body = hit
            if not 0 <= self._clock() - stored < self.cache_ttl_s:
                return None  # too old for this client; another client's TTL may still accept it
            return body

    def _store(self, key: _CacheKey, body: str) -> None:
        now = self._clock()
        with _cache_lock:
            # Drop what is too old for this client's TTL (same clock only), then bound the size.
            for k in [k for k, (stored, _) in _cache.items()
                      if k[0] == self._clock and now - stored >= self.cache_ttl_s]:
                del _cache[k]
            _cache.pop(key, None)  # re-insert, so insertion order stays oldest first
            _cache[key] = (now, body)
            while len(_cache) > _CACHE_MAX_ENTRIES:
                del _cache[next(iter(_cache))]

    def _get(self, url: str, params: dict[str, str]) -> str:
        try:
            full_url = requests.Request("GET", url, params=params).prepare().url or url
        except requests.RequestException:
            raise SourceError(f"GET {redact_url(url)}: not a valid URL") from None
        response = send_with_retries(
            lambda: self._session.get(url, params=params, timeout=self.timeout_s), f"GET {redact_url(url)}",
            attempts=self.max_attempts, backoff=self.backoff, timeout_s=self.timeout_s,
            secrets=[full_url, url, *params.values()], clock=self._clock, sleep=self._sleep,
            failed=SourceError, unreachable=SourceUnreachable)
        return response.text
