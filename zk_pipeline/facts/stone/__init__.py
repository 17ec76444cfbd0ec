"""Herodotus-Integrity facts for Stone proofs, computed off chain: the proof read (:mod:`.proof`), its program
and output carved from the public memory (:mod:`.memory`), the hashes Integrity would register (:mod:`.hashes`).

docs/stone.md ("Integrity facts of a Stone proof") derives every hash from Integrity's Cairo sources.
"""

from zk_pipeline.facts.stone.hashes import (
    STONE_VERSIONS, FriDegreeCheck, StoneFacts, compute_facts, fri_degree_check, output_hash, program_hash,
    public_input_hash, security_bits, verifier_config_hash,
)
from zk_pipeline.facts.stone.memory import (
    ENTRY_AP_ADD, ENTRY_CALL_REL, ENTRY_JMP_REL, MEMORY_VERIFICATION_MODES, MemoryVerificationError,
    program_and_output,
)
from zk_pipeline.facts.stone.proof import StoneProof, StoneProofError, load_stone_proof, parse_stone_proof

__all__ = [
    "ENTRY_AP_ADD", "ENTRY_CALL_REL", "ENTRY_JMP_REL", "MEMORY_VERIFICATION_MODES", "STONE_VERSIONS",
    "FriDegreeCheck", "MemoryVerificationError", "StoneFacts", "StoneProof", "StoneProofError", "compute_facts",
    "fri_degree_check", "load_stone_proof", "output_hash", "parse_stone_proof", "program_and_output",
    "program_hash", "public_input_hash", "security_bits", "verifier_config_hash",
]
