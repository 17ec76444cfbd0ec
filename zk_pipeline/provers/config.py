"""Prover settings as the Dagster resource and the API take them (``settings.provers``).

``ZKP_PROVERS`` (fallback order, default ``builtin``), ``ZKP_PROVER_COMMAND``,
``ZKP_PROVER_TIMEOUT_S`` (300), ``ZKP_PROVER_MAX_ATTEMPTS`` (2 per backend),
``ZKP_PROVER_BACKOFF_S`` (2, doubling), ``ZKP_MIN_SECURITY_BITS`` (96).
"""

from __future__ import annotations

from typing import Any

from zk_pipeline.settings import get_settings


def prover_settings_from_env() -> dict[str, Any]:
    provers = get_settings().provers
    return {
        "backends": list(provers.backends),
        "command": provers.command.get_secret_value() if provers.command else None,
        "timeout_s": provers.timeout_s,
        "max_attempts": provers.max_attempts,
        "backoff_s": provers.backoff_s,
        "min_security_bits": provers.min_security_bits,
    }
