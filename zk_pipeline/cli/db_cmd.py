"""``zkp migrate``: apply the app's migrations and sync the model registry."""

from __future__ import annotations

import argparse

from zk_pipeline.cli.output import fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="apply database migrations to DATABASE_URL and sync the model registry")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zk_pipeline.db import model_versions, repository
    from zk_pipeline.db.migrate import upgrade
    from zk_pipeline.db.session import session_scope

    from sqlalchemy.exc import SQLAlchemyError

    from zk_pipeline.redaction import public_text

    try:
        upgrade()
        with session_scope() as s:
            repository.sync_model_registry(s)
            model_versions.mark_current(s)
    except RuntimeError as exc:
        return fail(str(exc))
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        # One line, passwords masked: a driver's message (its first line) says what is wrong with the server.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return fail(f"cannot migrate the database at DATABASE_URL: {type(exc).__name__}: "
                    f"{public_text(reason[0] if reason else '')}", code=1)
    print("migrations applied; model registry synced")
    return 0
