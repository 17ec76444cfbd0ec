"""``zkp prove`` / ``zkp verify``: STARK proofs of allocation statements.

::

    zkp prove  --input statement.json --out proof.bin [--json]
    zkp prove  --batch DIR
    zkp verify --input statement.json --proof proof.bin [--json] [--min-security-bits 96]
    zkp prove  --backend stone --input statement.json --out proof.json [--json]
    zkp verify --backend stone --input statement.json --proof proof.json [--json]

The statement is the JSON of ``zk_pipeline/risk/statement.py`` (see
``docs/stark.md``); ``prove`` fills in the claimed ``outputs`` when the
statement has none (and refuses claimed outputs that differ from the model's).
``verify`` needs the claimed outputs in the statement: they are what the proof
is checked against (``prove --statement-out FILE`` writes the statement with them).

``verify`` also checks the statement's model label against the model registry:
a model hash that is not the registered hash of the claimed ``version`` (or a
version this registry does not know) makes the verdict invalid, because a
reader would trust the label, unless ``--allow-unregistered-model`` is given;
the output then says ``model_registered: false`` (or ``null``: unknown).

``--batch DIR`` proves every ``NAME.json`` in DIR into ``NAME.proof`` in one process and prints one
JSON line per statement: ``name`` and the fields of ``--json``, or ``name`` and ``error``; a bad
statement does not stop the others (exit code 1 when any failed).

Exit codes: 0 success / valid proof; 1 proving failed / proof invalid;
2 unusable input (unreadable file, malformed statement, bad options).
With ``--json`` one JSON object is printed on stdout:
``prove`` -> ``proof_bytes, prove_ms, trace_rows, trace_columns, security_bits, distinct_query_cosets,
params, proof_hash, air_id, statement_hash, model_hash, model_registered``, ``field_backend``
(``native`` or ``python``: which arithmetic the prover ran on);
``verify`` -> ``valid, reason, security_bits, distinct_query_cosets, params, model_hash,
model_registered, model_registration, proof_bytes, verify_ms``.

``--backend stone`` proves the model's Cairo program with StarkWare's Stone
instead (``docs/stone.md``; ``make stone`` installs it): ``--out`` gets Stone's
proof JSON as ``cpu_air_prover`` wrote it, with annotations, and ``--json``
prints ``backend, n_steps, layout, prove_ms, cairo_run_ms, cpu_air_prover_ms,
proof_bytes, security_bits, program_hash, output_hash, fact_hash,
verification_hash, stone_version, hasher, memory_verification,
statement_hash, model_hash, model_registered``; ``verify --backend stone``
runs ``cpu_air_verifier`` and checks the proven program and output against
the statement, printing ``backend, valid, reason, security_bits, n_steps,
layout, program_hash, output_hash, fact_hash, model_version, model_hash,
model_registered, model_registration, proof_bytes, verify_ms``. The
built-in proof options (``--compact``, ``--blowup``, ...) do not apply to it.

Launched by a Dagster step with a Pipes session (``zk_pipeline/prover_pipes.py``),
the built-in ``prove`` also tells the step what it proves and how long it took, through
Dagster Pipes; its output and exit code are the same either way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zk_pipeline.cli.output import read_text_file
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.statement import Statement, StatementError
from zk_pipeline.settings import process_environment

BACKENDS = ("builtin", "stone")
#: Set by the Dagster step that launched this process with a Pipes session (``dagster_pipes``'s name for it).
PIPES_CONTEXT_VARIABLE = "DAGSTER_PIPES_CONTEXT"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prove", help="prove a statement's allocation with a STARK",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", type=Path, help="statement JSON (required without --batch)")
    p.add_argument("--out", type=Path, help="where to write the binary proof (required without --batch)")
    p.add_argument("--batch", type=Path, metavar="DIR",
                   help="prove every NAME.json in DIR into NAME.proof, printing one JSON line per statement")
    p.add_argument("--backend", choices=BACKENDS, default="builtin",
                   help="builtin (default) or stone: StarkWare's Stone prover on the model's Cairo program")
    p.add_argument("--json", action="store_true", help="print one JSON object with the proof's metrics")
    p.add_argument("--statement-out", type=Path,
                   help="also write the proven statement (with its claimed outputs) here, for `zkp verify`")
    p.add_argument("--compact", action="store_true",
                   help="smaller proof, slower proving: blowup 8, 27 queries (97 bits) instead of 4, 40 (96 bits)")
    p.add_argument("--blowup", type=int, help="LDE blowup (default 4)")
    p.add_argument("--queries", type=int, help="FRI queries (default 40)")
    p.add_argument("--grinding-bits", type=int, help="proof-of-work bits (default 16)")
    p.add_argument("--folding-factor", type=int, help="FRI folding factor (default 4)")
    p.set_defaults(func=run_prove)

    v = sub.add_parser("verify", help="verify a STARK proof of a statement",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("--input", required=True, type=Path, help="statement JSON (with claimed outputs)")
    v.add_argument("--proof", required=True, type=Path, help="binary proof written by `zkp prove`")
    v.add_argument("--backend", choices=BACKENDS, default="builtin", help="which prover made the proof")
    v.add_argument("--json", action="store_true", help="print one JSON object with the verdict")
    v.add_argument("--min-security-bits", type=int, default=96, help="refuse proofs below this (default 96)")
    v.add_argument("--allow-unregistered-model", action="store_true",
                   help="accept a valid proof whose model hash is not the registered hash of its version "
                        "(reported as model_registered false/null)")
    v.set_defaults(func=run_verify)


def _err(msg: str, code: int) -> int:
    sys.stderr.write(f"zkp: error: {msg}\n")
    return code


def write_proof_outputs(args: argparse.Namespace, statement: Statement, proof: bytes) -> str | None:
    """Write the proof to ``--out`` and the proven statement to ``--statement-out``; the problem, if any."""
    try:
        args.out.write_bytes(proof)
        if args.statement_out:
            full = statement if statement.outputs is not None else statement.with_outputs()
            args.statement_out.write_text(json.dumps(full.to_dict(), indent=1) + "\n")
    except OSError as exc:
        return f"cannot write output: {exc.strerror or exc}"
    return None


def labelled_verdict(statement: Statement, valid: bool, reason: str,
                     allow_unregistered: bool) -> tuple[bool, str, bool | None, str]:
    """The verdict once the model label is checked: ``(valid, reason, registered, registration)``.

    A valid proof whose model hash is not the registered hash of its version is invalid unless
    ``--allow-unregistered-model`` says otherwise, whichever backend made it.
    """
    registered, registration = statement.registration()
    if valid and registered is not True and not allow_unregistered:
        valid, reason = False, f"{registration} (--allow-unregistered-model accepts it)"
    return valid, reason, registered, registration


def _load_statement(path: Path) -> Statement:
    try:
        text = read_text_file(path)
    except ValueError as exc:
        raise StatementError(str(exc)) from None
    return Statement.from_json(text)


class StepReport:
    """What the built-in prover tells the Dagster step that launched it: log lines and one timings message.

    Without a Pipes session (the command line, tests) it says nothing, and ``dagster_pipes`` is not imported.
    """

    def __init__(self, pipes) -> None:
        self.pipes = pipes
        self.pid = os.getpid()

    def log(self, message: str, level: str = "info") -> None:
        if self.pipes is not None:
            getattr(self.pipes.log, level)(f"zkp prove (pid {self.pid}): {message}")

    def timings(self, **values) -> None:
        if self.pipes is not None:
            self.pipes.report_custom_message({"pid": self.pid, "backend": "builtin", **values})


@contextmanager
def step_report() -> Iterator[StepReport]:
    """Pipes opened for the block when a step launched this process with a session; a silent report if not."""
    if PIPES_CONTEXT_VARIABLE not in process_environment():  # Dagster's variable, not a setting
        yield StepReport(None)
        return
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        yield StepReport(pipes)


def _proof_params(args: argparse.Namespace):
    """The built-in prover's parameters from the options; ``ParamsError`` if they fall below the policy."""
    from zk_pipeline.stark import COMPACT_PARAMS, DEFAULT_PARAMS, ProofParams
    from zk_pipeline.stark.params import SECURITY_POLICY

    overrides = {k: v for k, v in {
        "blowup": args.blowup, "num_queries": args.queries, "grinding_bits": args.grinding_bits,
        "fri_folding_factor": args.folding_factor}.items() if v is not None}
    base = COMPACT_PARAMS if args.compact else DEFAULT_PARAMS
    params = ProofParams(**{**base.to_dict(), **overrides})
    SECURITY_POLICY.check(params)
    return params


def _prove_one(statement: Statement, params, report: StepReport | None) -> tuple[bytes, dict]:
    """Prove one statement with the built-in prover: (proof bytes, what ``--json`` prints). ``ProofError``.

    ``report`` (a single proof) tells the step what is proved and its timings; a batch reports once."""
    from zk_pipeline.circuits.allocation import FIELD_BACKEND, prove_statement

    report = report or StepReport(None)
    report.log(f"proving the allocation of {statement.hour:%Y-%m-%d %H:00} UTC under model version "
               f"{statement.version} with the built-in STARK prover (blowup {params.blowup}, "
               f"{params.num_queries} queries, {FIELD_BACKEND} field arithmetic)")
    art = prove_statement(statement, params)
    report.log(f"trace of {art.trace_rows} rows x {art.trace_columns} columns; proof of "
               f"{len(art.proof_bytes)} bytes, {art.security_bits}-bit, in {art.prove_ms:.0f} ms")
    report.timings(prove_ms=round(art.prove_ms), proof_bytes=len(art.proof_bytes), trace_rows=art.trace_rows,
                   trace_columns=art.trace_columns, security_bits=art.security_bits,
                   field_backend=FIELD_BACKEND, statement_hash=art.statement_hash,
                   phases_ms={k: round(v) for k, v in art.phases_ms.items()})
    registered, _ = statement.registration()
    return art.proof_bytes, {
        "proof_bytes": len(art.proof_bytes), "prove_ms": art.prove_ms, "trace_rows": art.trace_rows,
        "trace_columns": art.trace_columns, "security_bits": art.security_bits,
        "distinct_query_cosets": art.distinct_query_cosets, "params": art.params, "proof_hash": art.proof_hash,
        "air_id": art.air_id, "statement_hash": art.statement_hash, "model_hash": felt_hex(statement.model_hash),
        "model_registered": registered, "field_backend": FIELD_BACKEND,
    }


def run_prove(args: argparse.Namespace) -> int:
    from zk_pipeline.circuits.allocation import ProofError
    from zk_pipeline.stark.params import ParamsError

    if args.batch is not None:
        if args.input or args.out or args.statement_out or args.backend != "builtin":
            return _err("--batch takes the statements from its directory: no --input, --out, --statement-out "
                        "or --backend stone", 2)
        return run_prove_batch(args)
    if args.input is None or args.out is None:
        return _err("--input and --out are required (or --batch DIR)", 2)
    try:
        statement = _load_statement(args.input)
    except StatementError as exc:
        return _err(str(exc), 2)
    if args.backend == "stone":
        from zk_pipeline.cli import stone_cmd

        return stone_cmd.prove(args, statement)
    try:
        params = _proof_params(args)
    except ParamsError as exc:
        return _err(str(exc), 2)
    with step_report() as report:
        try:
            proof, info = _prove_one(statement, params, report)
        except ProofError as exc:
            report.log(f"cannot prove: {exc}", "error")
            return _err(f"cannot prove: {exc}", 1)
    problem = write_proof_outputs(args, statement, proof)
    if problem:
        return _err(problem, 2)
    if args.json:
        sys.stdout.write(json.dumps(info) + "\n")
    else:
        sys.stdout.write(
            f"proof written to {args.out}: {info['proof_bytes']} bytes, {info['trace_rows']} rows x "
            f"{info['trace_columns']} columns, {info['security_bits']}-bit conjectured security, "
            f"{info['prove_ms']:.0f} ms\n")
    return 0


def run_prove_batch(args: argparse.Namespace) -> int:
    """Prove every ``NAME.json`` of the directory into ``NAME.proof``, one JSON line per statement.

    One process for many statements: the interpreter and the prover are loaded once, which is most
    of a single proof's wall time. A statement that cannot be proved gets an ``error`` line and the
    others are still proved; the exit code is then 1.
    """
    from zk_pipeline.circuits.allocation import ProofError
    from zk_pipeline.stark.params import ParamsError

    try:
        params = _proof_params(args)
    except ParamsError as exc:
        return _err(str(exc), 2)
    if not args.batch.is_dir():
        return _err(f"--batch: {args.batch} is not a directory", 2)
    from zk_pipeline.circuits.allocation import FIELD_BACKEND

    paths = sorted(args.batch.glob("*.json"))
    failed, prove_ms, proof_bytes = 0, 0.0, 0
    # The step hears of the batch once at each end (every Pipes log line is an event Dagster stores).
    with step_report() as report:
        report.log(f"proving {len(paths)} statements with the built-in STARK prover (blowup {params.blowup}, "
                   f"{params.num_queries} queries, {FIELD_BACKEND} field arithmetic)")
        for path in paths:
            try:
                statement = _load_statement(path)
                proof, info = _prove_one(statement, params, None)
                path.with_suffix(".proof").write_bytes(proof)
                line = {"name": path.stem, **info}
                prove_ms, proof_bytes = prove_ms + info["prove_ms"], proof_bytes + len(proof)
            except (StatementError, ProofError, OSError) as exc:
                failed += 1
                report.log(f"cannot prove {path.name}: {exc}", "error")
                line = {"name": path.stem, "error": f"cannot prove: {exc}"}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
        report.log(f"{len(paths) - failed} of {len(paths)} proved in {prove_ms:.0f} ms of proving")
        report.timings(statements=len(paths), proved=len(paths) - failed, prove_ms=round(prove_ms),
                       proof_bytes=proof_bytes, field_backend=FIELD_BACKEND)
    return 1 if failed else 0


def run_verify(args: argparse.Namespace) -> int:
    from zk_pipeline.circuits.allocation import verify_statement

    try:
        statement = _load_statement(args.input)
    except StatementError as exc:
        return _err(str(exc), 2)
    if args.backend == "stone":
        from zk_pipeline.cli import stone_cmd

        return stone_cmd.verify(args, statement)
    if statement.outputs is None:
        return _err("the statement has no claimed 'outputs' to verify", 2)
    try:
        proof = args.proof.read_bytes()
    except OSError as exc:
        return _err(f"cannot read {args.proof}: {exc.strerror or exc}", 2)
    res = verify_statement(statement, proof, min_security_bits=args.min_security_bits)
    valid, reason, registered, registration = labelled_verdict(statement, res.valid, res.reason,
                                                               args.allow_unregistered_model)
    if args.json:
        sys.stdout.write(json.dumps({
            "valid": valid, "reason": reason, "security_bits": res.security_bits,
            "distinct_query_cosets": res.distinct_query_cosets, "params": res.params,
            "model_version": statement.version, "model_hash": felt_hex(statement.model_hash),
            "model_registered": registered, "model_registration": registration,
            "proof_bytes": res.proof_bytes, "verify_ms": res.verify_ms}) + "\n")
    elif valid:
        label = "registered" if registered else "NOT REGISTERED: " + registration
        sys.stdout.write(f"valid: {res.security_bits}-bit conjectured security ({res.distinct_query_cosets} distinct "
                         f"query cosets), verified in {res.verify_ms:.0f} ms\n"
                         f"model: version {statement.version}, hash {felt_hex(statement.model_hash)} ({label})\n")
    if not valid:
        sys.stderr.write(f"zkp: proof invalid: {reason}\n")
        return 1
    return 0
