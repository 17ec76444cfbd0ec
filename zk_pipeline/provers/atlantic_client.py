"""The HTTP client of Herodotus's Atlantic proving service: submit a PIE, follow the query, fetch the proof.

It knows the service's wire contract and its failure modes, not what is proven: the prover backend
(:mod:`zk_pipeline.provers.atlantic`) decides what to send and whether the result is acceptable.

Wire contract (docs.herodotus.cloud/atlantic-api: "Sending Query", "Submit
query", "Get query"; the OpenAPI at atlantic.api.herodotus.cloud/docs/json)
--------------------------------------------------------------------------------
* ``POST {base}/atlantic-query``, multipart/form-data, header ``api-key``:
  ``pieFile``, ``layout``, ``declaredJobSize`` (S: < 13M steps),
  ``result`` (``PROOF_VERIFICATION_ON_L2`` by default: prove, then verify with
  Integrity on Starknet), ``network``, ``cairoVersion``, ``externalId``,
  ``dedupId``. Answer: ``{"atlanticQueryId": "..."}``.
* ``GET {base}/atlantic-query/{id}``: ``{"atlanticQuery": {"status":
  RECEIVED|IN_PROGRESS|DONE|FAILED, "step", "steps", "errorReason",
  "integrityFactHash", "programHash", "isFactMocked", ...}, "metadataUrls": [...]}``.
* The proof is ``proof.json`` among the query's ``metadataUrls``. If the
  service lists none, ``{artifacts_base_url}/queries/{id}/proof.json`` is
  tried when an artifacts base is configured (the storage location has moved
  over time, so there is no built-in default).
* ``GET {base}/atlantic-query-by-dedup-id?dedupId=...`` finds the query of a
  retried submission that the service refused as a duplicate.

The API key travels only in the ``api-key`` header to the API's own host
(never in a URL, never to the storage host serving ``metadataUrls``), and is
replaced by ``***`` in every message this module produces.

Retries and outcomes
--------------------
Requests go through :mod:`zk_pipeline.retrying_http`: timeouts, dropped
connections, 429 and 5xx are retried with exponential backoff (jittered,
``Retry-After`` honoured) until the attempt's deadline (a resubmission carries
the same ``dedupId``, so it cannot buy two proofs). A definite network answer
(the name does not resolve, nothing listens) fails at once as ``ProverFailed``:
waiting would not change it. 401/403 mean the key is wrong:
``ProverUnavailable``, since retrying cannot help. A query that ends ``FAILED`` during a verification step
is a remote rejection (``ProofRejected``); failing earlier is ``ProverFailed``.
No terminal state by the deadline is ``ProverTimeout`` (the query id is in
the message, to look it up later).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from zk_pipeline.provers.base import ProverFailed, ProverTimeout, ProverUnavailable
from zk_pipeline.redaction import public_text
from zk_pipeline.retrying_http import Backoff, send_with_retries
from zk_pipeline.settings import DEFAULT_ATLANTIC_URL

log = logging.getLogger(__name__)

TERMINAL = ("DONE", "FAILED")
#: Redirect hops followed for one request (each hop decides again whether the key goes along).
MAX_REDIRECTS = 5


class AtlanticClient:
    """One API key on one Atlantic deployment; every error it raises is a prover error with the key redacted."""

    def __init__(self, *, api_key: str | None, base_url: str | None = DEFAULT_ATLANTIC_URL,
                 artifacts_base_url: str | None = None, poll_interval_s: float = 10.0,
                 max_poll_interval_s: float = 120.0, request_timeout_s: float = 60.0,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self._api_key = api_key or None
        self.base_url = (base_url or "").rstrip("/") or None
        self.artifacts_base_url = (artifacts_base_url or "").rstrip("/") or None
        self.poll_interval_s, self.max_poll_interval_s = poll_interval_s, max_poll_interval_s
        self.request_timeout_s = request_timeout_s
        self.session = session or requests.Session()
        self.sleep = sleep

    def __repr__(self) -> str:  # never the key
        return f"AtlanticClient(base_url={self.base_url!r})"

    @property
    def has_key(self) -> bool:
        return self._api_key is not None

    # ------------------------------------------------------------------ secrets

    def redact(self, text: str) -> str:
        """``text`` as the project's redaction shows it, with this client's key masked too."""
        return public_text(text, [self._api_key])

    def error(self, kind: type[Exception], message: str) -> Exception:
        return kind(self.redact(f"atlantic: {message}"))

    # ------------------------------------------------------------------ HTTP

    def _keyed(self, url: str) -> bool:
        u, base = urlsplit(url), urlsplit(self.base_url or "")
        return bool(base.netloc) and (u.scheme, u.netloc) == (base.scheme, base.netloc)

    def _follow(self, method: str, url: str, headers: dict, authed: bool, timeout: float, **kw: Any
                ) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            hop = {**headers, "api-key": self._api_key or ""} if authed and self._keyed(url) else headers
            resp = self.session.request(method, url, headers=hop, timeout=timeout, allow_redirects=False, **kw)
            if not resp.is_redirect:
                return resp
            url = urljoin(url, resp.headers["location"])
            if resp.status_code in (301, 302, 303) and method != "HEAD":
                method, kw = "GET", {k: v for k, v in kw.items() if k not in ("data", "files", "json")}
        raise requests.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")

    def _request(self, method: str, url: str, deadline: float, *, authed: bool = True, **kw: Any
                 ) -> requests.Response:
        """One HTTP exchange, retried by ``retrying_http`` on transient failures until ``deadline``.

        401/403 raise ``ProverUnavailable``; a definite network failure raises ``ProverFailed``;
        running out of time raises ``ProverTimeout``; any other answer is the caller's to read (a
        4xx body may say the submission is a duplicate). The key is sent only as the ``api-key``
        header and only to the API's own scheme, host and port: redirects are followed here, hop
        by hop, and a hop elsewhere goes without it (``requests`` would keep a custom header
        across hosts).
        """
        headers = dict(kw.pop("headers", {}) or {})
        headers.pop("api-key", None)
        what = f"{method} {urlsplit(url).path}"
        if deadline - time.monotonic() <= 0:
            raise self.error(ProverTimeout, f"{what}: no answer before the deadline")

        def send() -> requests.Response:
            timeout = min(self.request_timeout_s, max(deadline - time.monotonic(), 0.1))
            return self._follow(method, url, headers, authed, timeout, **kw)

        def log_retry(reason: str, delay: float) -> None:
            log.warning("%s", self.redact(f"atlantic: {what} failed ({reason}); retrying in {delay:.2f}s"))

        resp = send_with_retries(
            send, f"atlantic: {what}", attempts=10**9, deadline=deadline,
            backoff=Backoff(first_s=max(self.poll_interval_s / 4, 0.01), max_s=self.max_poll_interval_s),
            sleep=self.sleep, secrets=[self._api_key], return_other_statuses=True, on_retry=log_retry,
            failed=ProverTimeout, unreachable=ProverFailed)
        if resp.status_code in (401, 403):
            raise self.error(ProverUnavailable, f"{what}: the service refused the API key (HTTP {resp.status_code})")
        return resp

    def _json(self, resp: requests.Response, what: str) -> dict[str, Any]:
        try:
            doc = resp.json()
        except ValueError:
            raise self.error(ProverFailed, f"{what}: HTTP {resp.status_code}, not JSON") from None
        if not isinstance(doc, dict):
            raise self.error(ProverFailed, f"{what}: unexpected answer {type(doc).__name__}")
        return doc

    def get_query(self, query_id: str, deadline: float) -> dict[str, Any]:
        resp = self._request("GET", f"{self.base_url}/atlantic-query/{query_id}", deadline)
        doc = self._json(resp, "GET /atlantic-query")
        if resp.status_code != 200 or not isinstance(doc.get("atlanticQuery"), dict):
            raise self.error(ProverFailed, f"GET /atlantic-query/{query_id}: HTTP {resp.status_code} "
                                            f"{_short(doc)}")
        return doc

    def submit(self, pie: Path, fields: dict[str, str], deadline: float) -> str:
        """Submit ``pie`` with the form ``fields`` (``dedupId`` included); the query id, a retry's too."""
        dedup = fields["dedupId"]
        resp = self._request("POST", f"{self.base_url}/atlantic-query", deadline, data=fields,
                             files={"pieFile": ("pie.zip", pie.read_bytes(), "application/zip")})
        doc = self._json(resp, "POST /atlantic-query")
        if resp.status_code in (200, 201) and doc.get("atlanticQueryId"):
            return str(doc["atlanticQueryId"])
        if "DEDUP" in json.dumps(doc).upper():
            # A retried attempt: the first submission exists; follow it rather than paying twice.
            found = self._request("GET", f"{self.base_url}/atlantic-query-by-dedup-id", deadline,
                                  params={"dedupId": dedup})
            existing = self._json(found, "GET /atlantic-query-by-dedup-id").get("atlanticQuery") or {}
            if found.status_code == 200 and existing.get("id"):
                return str(existing["id"])
        raise self.error(ProverFailed, f"POST /atlantic-query: HTTP {resp.status_code} {_short(doc)}")

    def wait(self, query_id: str, deadline: float, timeout_s: float) -> dict[str, Any]:
        interval = self.poll_interval_s
        last = None
        while True:
            doc = self.get_query(query_id, deadline)
            query = doc["atlanticQuery"]
            status = query.get("status")
            if status != last:
                log.info("atlantic: query %s is %s (step %s)", query_id, status, query.get("step"))
                last = status
            if status in TERMINAL:
                return doc
            left = deadline - time.monotonic()
            if left > 0:
                self.sleep(min(interval, left))
                interval = min(interval * 1.5, self.max_poll_interval_s)
            if deadline - time.monotonic() <= 0:
                raise self.error(ProverTimeout, f"query {query_id} still {status} (step {query.get('step')}) "
                                                 f"after {timeout_s:g}s")

    def _proof_url(self, query_id: str, doc: dict[str, Any]) -> str:
        for url in doc.get("metadataUrls") or []:
            if isinstance(url, str) and urlsplit(url).path.rsplit("/", 1)[-1] == "proof.json":
                return url
        if self.artifacts_base_url:
            return f"{self.artifacts_base_url}/queries/{query_id}/proof.json"
        raise self.error(ProverFailed, f"query {query_id} is DONE but lists no proof.json and no artifacts URL "
                                        "is configured (ZKP_ATLANTIC_ARTIFACTS_URL)")

    def download_proof(self, query_id: str, doc: dict[str, Any], deadline: float) -> bytes:
        """The ``proof.json`` of a ``DONE`` query (``doc``: its ``GET /atlantic-query`` answer)."""
        resp = self._request("GET", self._proof_url(query_id, doc), deadline, authed=True)
        if resp.status_code != 200 or not resp.content:
            raise self.error(ProverFailed, f"proof.json of query {query_id}: HTTP {resp.status_code}")
        return resp.content


def _short(doc: Any) -> str:
    return public_text(json.dumps(doc, sort_keys=True), limit=300)
