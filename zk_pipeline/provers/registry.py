"""Prover backends by name, built from configuration.

``builtin`` (default) needs nothing. ``command`` runs a configured program
(see ``command.py``). Names are what ``ZKP_PROVERS`` lists, in fallback order.
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


def build_backends(names: list[str], *, command: str | None = None,
                   on_start: Callable[[int], None] | None = None) -> list[ProverBackend]:
    backends: list[ProverBackend] = []
    for name in names:
        if name == "builtin":
            backends.append(BuiltinBackend(on_start=on_start))
        elif name == "command":
            backends.append(CommandBackend(shlex.split(command), on_start=on_start) if command
                            else _Unconfigured("command", "ZKP_PROVER_COMMAND is not set"))
        else:
            raise ValueError(f"unknown prover backend {name!r}; known: builtin, command")
    return backends
