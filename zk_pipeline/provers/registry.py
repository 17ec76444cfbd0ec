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


def build_backends(names: list[str], *, command: str | None = None,
                   on_start: Callable[[int], None] | None = None) -> list[ProverBackend]:
    backends: list[ProverBackend] = []
    for name in names:
        if name == "builtin":
            backends.append(BuiltinBackend(on_start=on_start))
        elif name == "command":
            backends.append(CommandBackend(shlex.split(command), on_start=on_start) if command
                            else _Unconfigured("command", "ZKP_PROVER_COMMAND is not set"))
        elif name == "stone":
            from zk_pipeline.provers.stone import StoneBackend

            backends.append(StoneBackend.from_env(on_start=on_start))
        elif name == "atlantic":
            from zk_pipeline.provers.atlantic import AtlanticBackend

            backends.append(AtlanticBackend.from_env(on_start=on_start))
        else:
            raise ValueError(f"unknown prover backend {name!r}; known: builtin, command, stone, atlantic")
    return backends
