"""``zkp model register FILE``: register a model version in the database at ``DATABASE_URL``.

::

    zkp model register definition.json [--json]

``FILE`` holds ``{"params": {...every parameter...}, "description": "..."}``; the parameters are
checked by the rules statements are checked by (a refusal names the parameter). The definition is
stored as the next version with its model hash, immutable, as ``POST /api/v1/model-registry/register``
stores it. The pipeline runs it where ``ZKP_MODEL_VERSION`` pins it (README, "Model registry").

Prints the version and its hash (``--json``: ``version, model_hash, params, description, origin``).
Exit codes: 0 registered; 1 these parameters are a version on record already; 2 an unusable file or
definition, or no database; one ``zkp: error:`` line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from zk_pipeline.cli.output import emit, fail, load_json_file
from zk_pipeline.redaction import public_text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="the model registry: register a model version",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    r = actions.add_parser("register", help="check a model definition and store it as the next version",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("file", type=Path, help="JSON: {\"params\": {...}, \"description\": \"...\"}")
    r.add_argument("--json", action="store_true", help="print the registered version as one JSON object")
    r.set_defaults(func=run_register)


def run_register(args: argparse.Namespace) -> int:
    from zk_pipeline.db.session import session_scope
    from zk_pipeline.services.errors import Conflict, ServiceError
    from zk_pipeline.services.model_registration import register as register_version

    try:
        payload = load_json_file(args.file)
    except ValueError as exc:
        return fail(str(exc))
    try:
        with session_scope() as s:
            row = register_version(s, payload)
            out = {"version": row.version, "model_hash": row.model_hash, "params": row.params,
                   "description": row.description, "origin": row.origin}
    except Conflict as exc:
        return fail(str(exc), code=1)
    except ServiceError as exc:
        return fail(str(exc))
    except RuntimeError as exc:  # no DATABASE_URL
        return fail(str(exc))
    except SQLAlchemyError as exc:
        return fail(f"database: {public_text(str(exc).splitlines()[0], limit=300)}")
    if args.json:
        emit(out)
    else:
        sys.stdout.write(f"model version {out['version']} registered: model hash {out['model_hash']}\n")
    return 0
