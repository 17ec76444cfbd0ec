"""The facts Herodotus Integrity would register for a Stone proof, computed off chain, bit for bit.

Integrity keeps a *fact* (one felt naming "this program was proven to output that") and its security bits,
not the proof; computing them here says which fact to look up, or what a proof will register before paying
to verify it. Nothing here verifies the STARK itself. docs/stone.md ("Integrity facts of a Stone proof")
derives every hash from Integrity's Cairo sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starknet_py.cairo.felt import encode_shortstring

from zk_pipeline.facts.hashing import fact_hash, poseidon_hash_many, verification_hash
from zk_pipeline.facts.stone.memory import MEMORY_VERIFICATION_MODES, program_and_output
from zk_pipeline.facts.stone.proof import LAYOUT_BUILTINS, StoneProof, StoneProofError
from zk_pipeline.felts import felt_hex_minimal

STONE_VERSIONS = ("stone5", "stone6")

# log2(CPU_COMPONENT_HEIGHT * CPU_COMPONENT_STEP): 16 trace rows per Cairo step in every layout of LAYOUT_BUILTINS.
LOG2_ROWS_PER_STEP = {layout: 4 for layout in LAYOUT_BUILTINS}


@dataclass(frozen=True)
class FriDegreeCheck:
    log2_last_layer_degree_bound: int
    sum_fri_steps: int
    log2_n_steps: int
    log2_rows_per_step: int | None  # None: layout not known, the equation cannot be checked

    @property
    def lhs(self) -> int:
        return self.log2_last_layer_degree_bound + self.sum_fri_steps

    @property
    def rhs(self) -> int | None:
        return None if self.log2_rows_per_step is None else self.log2_n_steps + self.log2_rows_per_step

    @property
    def ok(self) -> bool | None:
        return None if self.rhs is None else self.lhs == self.rhs


@dataclass(frozen=True)
class StoneFacts:
    layout: str
    n_steps: int
    memory_verification: str
    program_hash: int
    output_hash: int
    fact_hash: int
    program_length: int
    output: tuple[int, ...]
    security_bits: int
    fri: FriDegreeCheck
    hasher: str | None
    stone_version: str | None
    public_input_hash: int | None
    verifier_config_hash: int | None
    verification_hash: int | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; felts as 0x-prefixed lowercase hex, absent hashes as null."""

        def opt(v: int | None) -> str | None:
            return None if v is None else felt_hex_minimal(v)

        return {
            "layout": self.layout,
            "n_steps": self.n_steps,
            "memory_verification": self.memory_verification,
            "program_hash": felt_hex_minimal(self.program_hash),
            "output_hash": felt_hex_minimal(self.output_hash),
            "fact_hash": felt_hex_minimal(self.fact_hash),
            "security_bits": self.security_bits,
            "fri_degree_equation_ok": self.fri.ok,
            "fri_degree_equation": {
                "log2_last_layer_degree_bound": self.fri.log2_last_layer_degree_bound,
                "sum_fri_steps": self.fri.sum_fri_steps,
                "log2_n_steps": self.fri.log2_n_steps,
                "log2_rows_per_step": self.fri.log2_rows_per_step,
                "lhs": self.fri.lhs,
                "rhs": self.fri.rhs,
            },
            "program_length": self.program_length,
            "output": [felt_hex_minimal(v) for v in self.output],
            "hasher": self.hasher,
            "stone_version": self.stone_version,
            "public_input_hash": opt(self.public_input_hash),
            "verifier_config_hash": opt(self.verifier_config_hash),
            "verification_hash": opt(self.verification_hash),
        }


def program_hash(proof: StoneProof, memory_verification: str = "strict") -> int:
    return poseidon_hash_many(program_and_output(proof, memory_verification)[0])


def output_hash(proof: StoneProof, memory_verification: str = "strict") -> int:
    return poseidon_hash_many(program_and_output(proof, memory_verification)[1])


def security_bits(proof: StoneProof) -> int:
    return proof.n_queries * proof.log_n_cosets + proof.proof_of_work_bits


def fri_degree_check(proof: StoneProof) -> FriDegreeCheck:
    return FriDegreeCheck(
        log2_last_layer_degree_bound=proof.last_layer_degree_bound.bit_length() - 1,
        sum_fri_steps=sum(proof.fri_step_list),
        log2_n_steps=proof.n_steps.bit_length() - 1,
        log2_rows_per_step=LOG2_ROWS_PER_STEP.get(proof.layout),
    )


def _check_stone_version(stone_version: str) -> None:
    if stone_version not in STONE_VERSIONS:
        raise StoneProofError(f"unknown stone version {stone_version!r}; expected one of {list(STONE_VERSIONS)}")


def _short_string(text: str, what: str) -> int:
    try:
        return encode_shortstring(text)
    except ValueError as exc:
        raise StoneProofError(f"{what} {text!r} is not a Cairo short string: {exc}") from None


def verifier_config_hash(layout: str, hasher: str, stone_version: str, memory_verification: str) -> int:
    _check_stone_version(stone_version)
    if memory_verification not in MEMORY_VERIFICATION_MODES:
        raise StoneProofError(f"unknown memory verification mode {memory_verification!r}")
    return poseidon_hash_many([_short_string(layout, "layout"), _short_string(hasher, "hasher"),
                               _short_string(stone_version, "stone version"),
                               _short_string(memory_verification, "memory verification")])


def public_input_hash(proof: StoneProof, stone_version: str) -> int:
    """Integrity's Fiat-Shamir seed for this public input (``get_public_input_hash``)."""
    _check_stone_version(stone_version)
    builtins = LAYOUT_BUILTINS.get(proof.layout)
    if builtins is None:
        raise StoneProofError(f"layout '{proof.layout}': segment order unknown, cannot hash the public input")
    if proof.dynamic_params:
        raise StoneProofError("dynamic layouts are not supported for the public input hash")
    if any(c.page != 0 for c in proof.public_memory):
        raise StoneProofError("continuous memory pages are not supported for the public input hash")
    missing = [b for b in builtins if b not in proof.segments]
    if missing:
        raise StoneProofError(f"layout '{proof.layout}' needs memory segments {missing}")

    cells = proof.public_memory
    flat = [x for c in cells for x in (c.address, c.value)]
    data: list[int] = []
    if stone_version == "stone6":
        if proof.n_verifier_friendly_commitment_layers is None:
            raise StoneProofError("stone6 public input hash needs proof_parameters.n_verifier_friendly_commitment_layers")
        data.append(proof.n_verifier_friendly_commitment_layers)
    data += [proof.n_steps.bit_length() - 1, proof.rc_min, proof.rc_max, _short_string(proof.layout, "layout")]
    for name in ("program", "execution", *builtins):
        seg = proof.segments[name]
        data += [seg.begin_addr, seg.stop_ptr]
    # imported here: starknet_py.hash.utils loads the C Pedersen bindings (and sympy), ~0.6 s that every
    # `zkp` command, the built-in prover's child process included, would otherwise pay at start-up
    from starknet_py.hash.utils import compute_hash_on_elements

    data += [cells[0].address, cells[0].value, 1, len(cells), compute_hash_on_elements(flat)]
    return poseidon_hash_many(data)


def compute_facts(proof: StoneProof, memory_verification: str = "strict",
                  stone_version: str | None = None) -> StoneFacts:
    """Everything Integrity would register for this proof; configuration hashes only with a stone version."""
    program, output = program_and_output(proof, memory_verification)
    p_hash, o_hash = poseidon_hash_many(program), poseidon_hash_many(output)
    f_hash = fact_hash(p_hash, o_hash)
    bits = security_bits(proof)
    pi_hash = config_hash = v_hash = None
    if stone_version is not None:
        _check_stone_version(stone_version)
        if proof.layout in LAYOUT_BUILTINS and not proof.dynamic_params:
            pi_hash = public_input_hash(proof, stone_version)
        if proof.hasher is not None:
            config_hash = verifier_config_hash(proof.layout, proof.hasher, stone_version, memory_verification)
            v_hash = verification_hash(f_hash, config_hash, bits)
    return StoneFacts(
        layout=proof.layout, n_steps=proof.n_steps, memory_verification=memory_verification,
        program_hash=p_hash, output_hash=o_hash, fact_hash=f_hash, program_length=len(program),
        output=tuple(output), security_bits=bits, fri=fri_degree_check(proof), hasher=proof.hasher,
        stone_version=stone_version, public_input_hash=pi_hash, verifier_config_hash=config_hash,
        verification_hash=v_hash,
    )
