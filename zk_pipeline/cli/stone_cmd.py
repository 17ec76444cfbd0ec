"""``zkp stone-facts PROOF.json``: the Integrity fact a Stone proof would register.

Reads a Stone proof JSON (``proof_parameters``, ``public_input``,
``proof_hex``), carves the program and the output out of its public memory
the way Integrity's ``--memory-verification`` mode does (``strict``, the
default, for Cairo 0 proof-mode runs; ``relaxed`` for Cairo 0 with other entry
code; ``cairo1`` for Cairo 1 runs) and prints one JSON object: ``program_hash``,
``output_hash``, ``fact_hash`` (0x hex felts), ``security_bits``, ``layout``,
``n_steps``, ``memory_verification``, ``fri_degree_equation_ok`` (with its two
sides under ``fri_degree_equation``), ``program_length``, ``output``,
``hasher`` and ``stone_version``.

The proof file does not say which Stone version produced it, and the verifier
configuration depends on it; so ``public_input_hash``, ``verifier_config_hash``
and ``verification_hash`` are null unless ``--stone-version`` is given.

The STARK itself is not verified: these are the values Integrity registers if
it accepts the proof. A memory layout that does not fit the mode, or a
malformed file, is an error (reason on stderr, exit code 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zk_pipeline.cli.output import emit, fail
from zk_pipeline.facts.stone import (
    MEMORY_VERIFICATION_MODES,
    STONE_VERSIONS,
    StoneProofError,
    compute_facts,
    load_stone_proof,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stone-facts", help="Integrity program/output/fact hashes of a Stone proof (JSON on stdout)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("proof", type=Path, help="Stone proof JSON")
    p.add_argument("--memory-verification", choices=MEMORY_VERIFICATION_MODES, default="strict",
                   help="how the program and output are delimited in the public memory (default: strict)")
    p.add_argument("--stone-version", choices=STONE_VERSIONS, default=None,
                   help="prover version; needed for the public input, verifier config and verification hashes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        proof = load_stone_proof(args.proof)
        facts = compute_facts(proof, args.memory_verification, args.stone_version)
    except StoneProofError as exc:
        return fail(str(exc))
    emit(facts.to_json())
    return 0
