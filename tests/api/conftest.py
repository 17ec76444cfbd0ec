"""Fixtures of the API tests."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager

import pytest
import uvicorn

from api.main import create_app


@pytest.fixture()
def live_server(db_url):
    """uvicorn on a socket bound here (no race for the port); yields ``(host, port)``."""
    with serve(db_url) as address:
        yield address


@contextmanager
def serve(db_url: str):
    """``create_app(db_url)`` served by uvicorn (startup included) on 127.0.0.1; yields ``(host, port)``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(db_url), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start"
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert not thread.is_alive()
