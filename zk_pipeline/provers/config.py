"""Prover settings from the environment, shared by the Dagster resource and the API.

``ZKP_PROVERS`` (fallback order, default ``builtin``), ``ZKP_PROVER_COMMAND``,
``ZKP_PROVER_TIMEOUT_S`` (300), ``ZKP_PROVER_MAX_ATTEMPTS`` (2 per backend),
``ZKP_PROVER_BACKOFF_S`` (2, doubling), ``ZKP_MIN_SECURITY_BITS`` (96).
"""

from __future__ import annotations

import os
from typing import Any


def prover_settings_from_env() -> dict[str, Any]:
    env = os.environ
    return {
        "backends": [b.strip() for b in env.get("ZKP_PROVERS", "builtin").split(",") if b.strip()],
        "command": env.get("ZKP_PROVER_COMMAND") or None,
        "timeout_s": float(env.get("ZKP_PROVER_TIMEOUT_S", "300")),
        "max_attempts": int(env.get("ZKP_PROVER_MAX_ATTEMPTS", "2")),
        "backoff_s": float(env.get("ZKP_PROVER_BACKOFF_S", "2")),
        "min_security_bits": int(env.get("ZKP_MIN_SECURITY_BITS", "96")),
    }
