"""``zkp migrate``: apply the app's migrations and sync the model registry."""

from __future__ import annotations

import argparse

from zk_pipeline.cli.output import fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="apply database migrations to DATABASE_URL and sync the model registry")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zk_pipeline.db import repository
    from zk_pipeline.db.migrate import upgrade
    from zk_pipeline.db.session import session_scope

    try:
        upgrade()
        with session_scope() as s:
            repository.sync_model_registry(s)
    except RuntimeError as exc:
        return fail(str(exc))
    print("migrations applied; model registry synced")
    return 0
