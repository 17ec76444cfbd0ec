"""What every read from a Starknet node shares: sync entry, node errors, redacted warnings.

starknet-py's ``FullNodeClient`` is async and its spec-version warning quotes the
node's full URL (API keys included); callers here are synchronous (Dagster ops,
FastAPI routes in a thread pool, the CLI), so reads go through :func:`read_node`.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiohttp
from starknet_py.net.client_errors import ClientError
from starknet_py.net.http_client import IncompatibleRPCVersionWarning, ServerError

from zk_pipeline.redaction import public_text

T = TypeVar("T")

#: Everything a bad node can make a read raise: transport, JSON-RPC and decoding errors alike.
NODE_ERRORS: tuple[type[BaseException], ...] = (
    ClientError,
    ServerError,
    aiohttp.ClientError,
    OSError,  # includes TimeoutError
    ValueError,  # includes malformed JSON
    KeyError,
    TypeError,
    IndexError,
    AssertionError,  # starknet-py asserts on malformed felts
)


def run_sync(make_coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code, also when the caller already has an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()


def read_node(url: str, make_coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """:func:`run_sync`, re-issuing starknet-py's spec-version warning with ``url`` redacted."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IncompatibleRPCVersionWarning)
            return run_sync(make_coro)
    finally:
        for w in caught:
            message = str(w.message)
            if issubclass(w.category, IncompatibleRPCVersionWarning):
                message = public_text(message, [url])
            warnings.warn_explicit(message, w.category, w.filename, w.lineno)
