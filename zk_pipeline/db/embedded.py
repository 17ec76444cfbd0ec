"""The embedded PostgreSQL used when ``DATABASE_URL`` is not set.

``pgserver`` ships PostgreSQL 16 binaries in its wheel and starts a real
server on a unix socket inside the data directory, so a fresh machine needs
nothing but pip. The socket path must stay under ~100 characters; a data
directory deeper than that is refused with a clear message.
"""

from __future__ import annotations

from pathlib import Path

MAX_SOCKET_DIR = 90


def start(data_dir: Path, cleanup: str = "stop"):
    """Start (or attach to) the server in ``data_dir``; returns ``(server, url)``.

    ``cleanup``: ``stop`` stops the server when this process exits, ``delete``
    also removes the data (tests), ``None`` leaves it running.
    """
    import pgserver

    data_dir = Path(data_dir).resolve()
    if len(str(data_dir)) > MAX_SOCKET_DIR:
        raise RuntimeError(
            f"data directory {data_dir} is too long for a PostgreSQL unix socket; "
            "set ZKP_DATA_DIR to a shorter path or DATABASE_URL to an existing server"
        )
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=cleanup)
    return server, server.get_uri()
