"""Prover backends by name, built from configuration.

``builtin`` (default) needs nothing. ``command`` runs a configured program
(see ``command.py``); ``stone`` runs cairo-run + Stone's cpu_air_prover
(``ZKP_STONE_*``, see ``stone.py``); ``atlantic`` uses Herodotus Atlantic
(``ZKP_ATLANTIC_*``, see ``atlantic.py``). Unconfigured ones report why in
``check_available`` and are skipped. Names are what ``ZKP_PROVERS`` lists,
in fallback order.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from zk_pipeline.provers.base import ProverBackend, ProverUnavailable
from zk_pipeline.provers.command import BuiltinBackend, CommandBackend


class _Unconfigured(ProverBackend):
    """Stands in for a backend whose configuration is missing, so the chain records why it was skipped."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason

    def check_available(self) -> None:
        raise ProverUnavailable(f"{self.name}: {self.reason}")

    def prove(self, statement, timeout_s):  # pragma: no cover - never reached
        self.check_available()

    def verify(self, statement, artifact, min_security_bits):  # pragma: no cover - never reached
        self.check_available()


Factory = Callable[[str | None, Callable[[int], None] | None], ProverBackend]


def _builtin(command: str | None, on_start: Callable[[int], None] | None) -> ProverBackend:
    return BuiltinBackend(on_start=on_start)


def _command(command: str | None, on_start: Callable[[int], None] | None) -> ProverBackend:
    if not command:
        return _Unconfigured("command", "ZKP_PROVER_COMMAND is not set")
    return CommandBackend(shlex.split(command), on_start=on_start)


def _stone(command: str | None, on_start: Callable[[int], None] | None) -> ProverBackend:
    from zk_pipeline.provers.stone import StoneBackend

    return StoneBackend.from_env(on_start=on_start)


def _atlantic(command: str | None, on_start: Callable[[int], None] | None) -> ProverBackend:
    from zk_pipeline.provers.atlantic import AtlanticBackend

    return AtlanticBackend.from_env(on_start=on_start)


#: Backend factories by name (the names ``ZKP_PROVERS`` lists and a job's ``source``).
BACKENDS: dict[str, Factory] = {"builtin": _builtin, "command": _command, "stone": _stone, "atlantic": _atlantic}


def register(name: str, factory: Factory) -> None:
    """Add (or replace) a backend: ``factory(command, on_start)`` returns it."""
    BACKENDS[name] = factory


def build_backends(names: list[str], *, command: str | None = None,
                   on_start: Callable[[int], None] | None = None) -> list[ProverBackend]:
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown prover backend {unknown[0]!r}; known: {', '.join(BACKENDS)}")
    return [BACKENDS[name](command, on_start) for name in names]
