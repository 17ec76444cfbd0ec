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
import json
import sys
from pathlib import Path

from zk_pipeline.cli.output import emit, fail
from zk_pipeline.facts.stone import (
    MEMORY_VERIFICATION_MODES,
    STONE_VERSIONS,
    StoneProofError,
    compute_facts,
    load_stone_proof,
    parse_stone_proof,
)
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.statement import Statement

#: ``zkp prove --backend stone`` gives up after this long unless ``ZKP_STONE_TIMEOUT_S`` says otherwise.
DEFAULT_TIMEOUT_S = 1800.0


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


# --------------------------------------------------------------------------- zkp prove / verify --backend stone


def prove(args: argparse.Namespace, statement: Statement) -> int:
    """``zkp prove --backend stone``: Stone's proof JSON (with annotations) to ``--out``, its facts as the summary.

    Exit 2 when Stone is not installed (the message names ``make stone``) or
    the claimed outputs are not the model's; 1 when proving fails.
    """
    from zk_pipeline.provers.base import ProverError, ProverUnavailable
    from zk_pipeline.provers.stone import StoneBackend

    builtin_only = [flag for flag, value in (("--compact", args.compact), ("--blowup", args.blowup),
                                             ("--queries", args.queries), ("--grinding-bits", args.grinding_bits),
                                             ("--folding-factor", args.folding_factor)) if value]
    if builtin_only:
        return fail(f"{', '.join(builtin_only)}: only for the built-in prover; Stone's parameters are in "
                    "ZKP_STONE_PARAMS (docs/stone.md)")
    backend = StoneBackend.from_env()
    if _claims_other_outputs(statement):
        return fail("the statement's claimed outputs are not the model's result; drop them or correct them")
    try:
        backend.check_available()
        art = backend.prove(statement, timeout_s=backend.timeout_s or DEFAULT_TIMEOUT_S)
    except ProverUnavailable as exc:
        return fail(f"{exc} (`make stone` builds and installs Stone; see docs/stone.md)")
    except ProverError as exc:
        return fail(f"cannot prove: {exc}", 1)
    from zk_pipeline.cli.prove_cmd import write_proof_outputs

    problem = write_proof_outputs(args, statement, art.proof)
    if problem:
        return fail(problem)
    d = art.details
    registered, _ = statement.registration()
    info = {
        "backend": "stone", "n_steps": d["n_steps"], "layout": d["layout"], "prove_ms": art.prove_ms,
        "cairo_run_ms": d["cairo_run_ms"], "cpu_air_prover_ms": d["cpu_air_prover_ms"], "proof_bytes": len(art.proof),
        "security_bits": d["security_bits"], "program_hash": d["program_hash"], "output_hash": d["output_hash"],
        "fact_hash": d["fact_hash"], "verification_hash": d["verification_hash"], "stone_version": d["stone_version"],
        "hasher": d["stone_facts"]["hasher"], "memory_verification": d["memory_verification"],
        "statement_hash": statement.statement_hash(), "model_hash": felt_hex(statement.model_hash),
        "model_registered": registered,
    }
    if args.json:
        sys.stdout.write(json.dumps(info) + "\n")
    else:
        sys.stdout.write(f"Stone proof written to {args.out}: {info['proof_bytes']} bytes, {info['n_steps']} steps "
                         f"(layout {info['layout']}), {info['security_bits']}-bit conjectured security, "
                         f"{art.prove_ms} ms\nfact_hash {info['fact_hash']}\n")
    return 0


def verify(args: argparse.Namespace, statement: Statement) -> int:
    """``zkp verify --backend stone``: ``cpu_air_verifier`` plus the program, output and security checks."""
    from zk_pipeline.provers.base import ProofArtifact, ProverError
    from zk_pipeline.provers.stone import StoneBackend

    try:
        proof = args.proof.read_bytes()
    except OSError as exc:
        return fail(f"cannot read {args.proof}: {exc.strerror or exc}")
    backend = StoneBackend.from_env()
    if _claims_other_outputs(statement):
        valid, reason, bits, verify_ms = False, "the statement's claimed outputs are not the model's result", 0, 0
    else:
        try:
            res = backend.verify(statement, ProofArtifact(proof, "stone", 0, {}), args.min_security_bits)
        except ProverError as exc:
            return fail(f"{exc} (`make stone` builds and installs Stone; see docs/stone.md)")
        valid, reason, bits, verify_ms = res.valid, res.reason, res.security_bits, res.verify_ms
    from zk_pipeline.cli.prove_cmd import labelled_verdict

    valid, reason, registered, registration = labelled_verdict(statement, valid, reason,
                                                               args.allow_unregistered_model)
    facts = _facts_or_none(proof)
    out = {
        "backend": "stone", "valid": valid, "reason": reason, "security_bits": bits,
        **{k: facts.get(k) for k in ("n_steps", "layout", "program_hash", "output_hash", "fact_hash")},
        "model_version": statement.version, "model_hash": felt_hex(statement.model_hash),
        "model_registered": registered, "model_registration": registration, "proof_bytes": len(proof),
        "verify_ms": verify_ms,
    }
    if args.json:
        sys.stdout.write(json.dumps(out) + "\n")
    elif valid:
        sys.stdout.write(f"valid: Stone proof of {out['n_steps']} steps (layout {out['layout']}), {bits}-bit "
                         f"conjectured security, verified in {verify_ms} ms\nfact_hash {out['fact_hash']}\n")
    if not valid:
        sys.stderr.write(f"zkp: proof invalid: {reason}\n")
        return 1
    return 0


def _claims_other_outputs(statement: Statement) -> bool:
    """The statement claims outputs, and they are not what the model computes from its inputs."""
    return statement.outputs is not None and statement.outputs != statement.evaluate().summary()


def _facts_or_none(proof: bytes) -> dict:
    """The proof's Integrity facts for the summary, or nothing when it is not a readable Stone proof."""
    try:
        return compute_facts(parse_stone_proof(json.loads(proof)), "strict").to_json()
    except (ValueError, StoneProofError):
        return {}
