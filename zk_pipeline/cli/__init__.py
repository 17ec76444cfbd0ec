"""``zkp``: the project's command line.

Each command lives in its own module exposing ``register(subparsers)``; the
handler it sets returns the process exit code.
"""

from __future__ import annotations

import argparse
import re
import sys

from zk_pipeline.cli import (
    allocate_cmd, db_cmd, execute_cmd, features_cmd, model_cmd, prove_cmd, run_cmd, stone_cmd,
)
from zk_pipeline.cli.output import fail
from zk_pipeline.risk import registry
from zk_pipeline.risk.registry import InvalidModelVersion, UnknownModelVersion
from zk_pipeline.settings import SettingsError, get_settings

COMMAND_MODULES = [features_cmd, allocate_cmd, prove_cmd, stone_cmd, db_cmd, run_cmd, execute_cmd, model_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zkp", description="Verifiable DeFi allocation pipeline for Starknet.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    for command in sub.choices.values():
        if command.description:
            command.description = plain_text(command.description)
        for action in command._actions:
            if action.help:
                action.help = plain_text(action.help)
    return parser


def plain_text(doc: str) -> str:
    """A module docstring as terminal text: the commands' help is their docstring, written in reST."""
    doc = re.sub(r"``(.+?)``", r"\1", doc, flags=re.S)
    return re.sub(r"^::\n", "", doc, flags=re.M).strip()  # a literal block's marker


def _registered_version(version: int):
    """The registered model version ``version`` at ``DATABASE_URL`` (``zk_pipeline.db.model_versions``),
    imported only when a command names a version the code does not define: the database modules
    are not worth their import time to every ``zkp`` process (the prover's children above all)."""
    from zk_pipeline.db.model_versions import load

    return load(None, version)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        get_settings()  # every variable is checked before a command starts: one line naming a bad one
        registry.set_loader(_registered_version)  # a registered model version is run and checked like a code one
        return args.func(args)
    except (SettingsError, UnknownModelVersion, InvalidModelVersion) as exc:
        return fail(str(exc))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
