"""Facts for proofs of the built-in allocation AIR, in Integrity's format.

A Cairo fact binds a *program* to its *output*. Our "program" is the
allocation AIR at a given version evaluating a given model version, so

    program_hash = poseidon_many([short("zk-pipeline/allocation"), air_id, model_hash])
    air_id       = SHA-256(AIR_ID string) & (2**250 - 1)

and the "output" is the statement's public result, bound to its inputs:

    output       = [hour_unix, inputs_commitment,
                    for p in (jediswap, ekubo):
                        volatility_annualized_bps, volatility_bps, utilization_bps,
                        apy_bps, liquidity_tier, age_days, risk,
                    jediswap_bps, ekubo_bps]
    inputs_commitment = SHA-256(canonical JSON of {"hour", "protocols"}) & (2**250 - 1)
    output_hash  = poseidon_many(output)
    fact_hash    = poseidon_many([program_hash, output_hash])

and, for the registry's per-verifier record,
``verification_hash = poseidon_many([fact_hash, config_hash, security_bits])``
with ``config_hash = poseidon_many([short("zkp-builtin-stark"), air_id])``.
Anyone holding the statement can recompute every one of these.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from zk_pipeline.facts.hashing import fact_hash, poseidon_hash_many, short_string, verification_hash
from zk_pipeline.felts import felt_hex_minimal
from zk_pipeline.risk.model import ALLOCATION_ORDER
from zk_pipeline.risk.params import FELT_MASK
from zk_pipeline.risk.statement import Statement

PROGRAM_DOMAIN = "zk-pipeline/allocation"
VERIFIER_DOMAIN = "zkp-builtin-stark"
PROTOCOL_OUTPUTS = ("volatility_annualized_bps", "volatility_bps", "utilization_bps", "apy_bps",
                    "liquidity_tier", "age_days", "risk")


def _sha_felt(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(data).digest(), "big") & FELT_MASK


def air_id_felt() -> int:
    from zk_pipeline.circuits.allocation.air import AIR_ID

    return _sha_felt(AIR_ID.encode())


def inputs_commitment(statement: Statement) -> int:
    d = statement.to_dict()
    inputs = {"hour": d["hour"], "protocols": d["protocols"]}
    return _sha_felt(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode())


def output_felts(statement: Statement) -> list[int]:
    out = statement.outputs or statement.evaluate().summary()
    felts = [statement.hour_unix, inputs_commitment(statement)]
    for name in ALLOCATION_ORDER:
        felts += [int(out["protocols"][name][k]) for k in PROTOCOL_OUTPUTS]
    return felts + [int(out["allocation"]["jediswap_bps"]), int(out["allocation"]["ekubo_bps"])]


@dataclass(frozen=True)
class BuiltinFacts:
    program_hash: int
    output_hash: int
    fact_hash: int
    verification_hash: int
    security_bits: int

    def to_json(self) -> dict[str, str | int]:
        return {"program_hash": felt_hex_minimal(self.program_hash), "output_hash": felt_hex_minimal(self.output_hash),
                "fact_hash": felt_hex_minimal(self.fact_hash), "verification_hash": felt_hex_minimal(self.verification_hash),
                "security_bits": self.security_bits}


def compute_facts(statement: Statement, security_bits: int) -> BuiltinFacts:
    air = air_id_felt()
    program = poseidon_hash_many([short_string(PROGRAM_DOMAIN), air, statement.model_hash])
    output = poseidon_hash_many(output_felts(statement))
    fact = fact_hash(program, output)
    config = poseidon_hash_many([short_string(VERIFIER_DOMAIN), air])
    return BuiltinFacts(program, output, fact, verification_hash(fact, config, security_bits), security_bits)
