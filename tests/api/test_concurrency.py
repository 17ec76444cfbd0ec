"""Many clients at once on one API process: every request is answered.

Sync routes run in a bounded thread pool and the database pool is smaller
than it. When a session's connection went back to the pool only in the
dependency's teardown, which needs a thread of that same pool, 64 clients
could fill every thread with requests waiting for a connection while the
holders waited for a thread: the process stopped answering (even `/health`)
until the pool's 30 s timeout (100 clients did it reliably). This sends that
load to a real uvicorn process on 127.0.0.1, bounded: 100 clients × 6 requests.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.api.conftest import api_process

CLIENTS = 100
REQUESTS_EACH = 6


async def _client(base: str, i: int) -> list[int]:
    paths = ["/api/v1/risk-engine/decisions", "/api/v1/health", "/api/v1/model-registry/current"]
    codes = []
    async with httpx.AsyncClient(base_url=base, timeout=25) as client:
        for k in range(REQUESTS_EACH):
            try:
                codes.append((await client.get(paths[(i + k) % len(paths)])).status_code)
            except httpx.TimeoutException:
                codes.append(0)  # no answer within 25 s: the stall
    return codes


async def _load(base: str) -> list[int]:
    results = await asyncio.gather(*(_client(base, i) for i in range(CLIENTS)))
    return [c for codes in results for c in codes]


def test_100_concurrent_clients_are_all_answered(db_url, tmp_path):
    with api_process({"DATABASE_URL": db_url}, tmp_path / "api.log") as (_, base):
        codes = asyncio.run(_load(base))
        assert len(codes) == CLIENTS * REQUESTS_EACH
        assert codes.count(200) == len(codes), {c: codes.count(c) for c in set(codes)}
        # And the process still answers afterwards.
        assert httpx.get(f"{base}/api/v1/health", timeout=10).status_code == 200
