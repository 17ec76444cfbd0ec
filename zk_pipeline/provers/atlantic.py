"""Atlantic: Herodotus's proving service proves the Cairo model program and verifies the proof on Starknet.

What is sent, and why a PIE
---------------------------
Atlantic accepts either a compiled program (``programFile``, with an
``inputFile`` only "for Cairo1 and Cairo0 with Rust VM") or a Cairo PIE
(``pieFile``). ``allocation.cairo`` reads its input and computes its division
witnesses in Python hints, which the Rust VM does not run, so the program
cannot be sent with its input. A PIE carries the executed memory: the service
bootloads it without running any hint. So ``prove`` compiles the plain
(non-proof-mode) program, runs it locally with cairo-lang's ``cairo-run
--cairo_pie_output`` (Python 3.10, as for the Stone backend), and submits the
PIE. The run's printed output is checked against the Python model first, so a
divergence costs nothing at the service.

The service's HTTP API, retries and error mapping are :mod:`zk_pipeline.provers.atlantic_client`'s.

Verification
------------
``verify`` asks the service again for the query: it is valid only if the
service verified the proof itself (status ``DONE`` after a verification step,
a real ``integrityFactHash``, not a mocked fact) *and* the downloaded proof,
checked locally, says what the statement says. Atlantic proves the bootloader
running our PIE, so the proof's public output is the simple bootloader's
``[n_tasks = 1, len(task output) + 2, program hash, *task output]``; the task
output must equal ``expected_output(statement)`` and the program hash must be
the bootloader hash of our compiled program. (A proof of the program itself,
whose output is just ours, is accepted too.) Security bits come from the
proof's parameters (``facts.stone.security_bits``). Which bootloader the
service runs is not documented; set ``ZKP_ATLANTIC_BOOTLOADER_HASH`` (its
Integrity program hash) to require proofs of exactly that program.

Configuration (``from_env``): ``ZKP_ATLANTIC_API_KEY`` (required),
``ZKP_ATLANTIC_URL`` (default ``https://atlantic.api.herodotus.cloud``),
``ZKP_ATLANTIC_NETWORK`` (``TESTNET``), ``ZKP_ATLANTIC_RESULT``
(``PROOF_VERIFICATION_ON_L2``), ``ZKP_ATLANTIC_LAYOUT`` (``recursive``),
``ZKP_ATLANTIC_JOB_SIZE`` (``S``), ``ZKP_ATLANTIC_ARTIFACTS_URL`` (none),
``ZKP_ATLANTIC_TIMEOUT_S`` (3600: a remote proof plus an on-chain
verification takes minutes to tens of minutes), ``ZKP_ATLANTIC_POLL_S`` (10),
``ZKP_ATLANTIC_BOOTLOADER_HASH`` (none),
and ``ZKP_STONE_CAIRO_RUN`` / ``ZKP_STONE_CAIRO_COMPILE`` / ``ZKP_CAIRO_CACHE``
shared with the Stone backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from zk_pipeline import cairo
from zk_pipeline.child_process import resolve_executable
from zk_pipeline.facts import stone as stone_facts
from zk_pipeline.provers.atlantic_client import AtlanticClient
from zk_pipeline.provers.base import (
    ProofArtifact,
    ProofRejected,
    ProverBackend,
    ProverFailed,
    ProverTimeout,
    ProverUnavailable,
    Verification,
)
from zk_pipeline.provers.stone import MEMORY_VERIFICATION, _default_cairo_run, _expected_or_fail
from zk_pipeline.risk.statement import Statement
from zk_pipeline.settings import DEFAULT_ATLANTIC_URL, get_settings, load_settings

log = logging.getLogger(__name__)

#: Steps after which a failure means "the proof did not verify", not "no proof was made".
VERIFICATION_STEPS = ("PROOF_VERIFICATION", "PROOF_VERIFICATION_ON_L1", "PROOF_VERIFICATION_ON_L2")
VERIFYING_RESULTS = ("PROOF_VERIFICATION_ON_L1", "PROOF_VERIFICATION_ON_L2")


class AtlanticBackend(ProverBackend):
    name = "atlantic"

    def __init__(self, *, api_key: str | None, base_url: str | None = DEFAULT_ATLANTIC_URL,
                 network: str = "TESTNET", result: str = "PROOF_VERIFICATION_ON_L2", layout: str = "recursive",
                 declared_job_size: str = "S", artifacts_base_url: str | None = None,
                 cairo_run: str | None = None, cairo_compile: str | None = None,
                 cache_dir: str | Path | None = None, timeout_s: float | None = 3600.0,
                 poll_interval_s: float = 10.0, max_poll_interval_s: float = 120.0, request_timeout_s: float = 60.0,
                 bootloader_hash: int | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, on_start: Callable[[int], None] | None = None) -> None:
        self.client = AtlanticClient(api_key=api_key, base_url=base_url, artifacts_base_url=artifacts_base_url,
                                     poll_interval_s=poll_interval_s, max_poll_interval_s=max_poll_interval_s,
                                     request_timeout_s=request_timeout_s, session=session, sleep=sleep)
        self.base_url = self.client.base_url
        self.network, self.result, self.layout = network, result, layout
        self.declared_job_size = declared_job_size
        self.cairo_run = cairo_run or _default_cairo_run()
        self.cairo_compile = cairo_compile
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.timeout_s = timeout_s
        #: Integrity program hash (strict) of the service's bootloader, if known: then a proof must be of it.
        self.bootloader_hash = bootloader_hash
        self.on_start = on_start

    def __repr__(self) -> str:  # never the key
        return f"AtlanticBackend(base_url={self.base_url!r}, network={self.network!r}, result={self.result!r})"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **kw: Any) -> "AtlanticBackend":
        """The backend the settings describe (``env``: these variables instead of the process's)."""
        s = get_settings() if env is None else load_settings(env)
        a = s.atlantic
        return cls(api_key=a.api_key.get_secret_value() if a.api_key else None, base_url=a.url, network=a.network,
                   result=a.result, layout=a.layout, declared_job_size=a.job_size, artifacts_base_url=a.artifacts_url,
                   cairo_run=s.stone.cairo_run, cairo_compile=s.stone.cairo_compile, cache_dir=s.cairo.cache,
                   timeout_s=a.timeout_s, poll_interval_s=a.poll_s, bootloader_hash=a.bootloader_hash, **kw)

    # ------------------------------------------------------------------ availability

    def _cairo_compile(self) -> str | None:
        return cairo.locate_cairo_compile(self.cairo_compile, self.cairo_run)

    def check_available(self) -> None:
        missing = []
        if not self.client.has_key:
            missing.append("no API key (ZKP_ATLANTIC_API_KEY)")
        if not self.base_url:
            missing.append("no API URL (ZKP_ATLANTIC_URL)")
        if resolve_executable(self.cairo_run) is None:
            missing.append(f"cairo-run ({self.cairo_run}) to build the PIE")
        if self._cairo_compile() is None:
            missing.append("cairo-compile")
        if missing:
            raise self.client.error(ProverUnavailable, "missing " + "; ".join(missing))

    def compiled(self, timeout_s: float = 180) -> cairo.CompiledProgram:
        try:
            return cairo.compile_program(proof_mode=False, cairo_compile=self._cairo_compile(),
                                         cache_dir=self.cache_dir, timeout_s=timeout_s)
        except cairo.CairoToolTimeout as exc:
            raise self.client.error(ProverTimeout, str(exc)) from None
        except cairo.CairoToolError as exc:
            raise self.client.error(ProverFailed, str(exc)) from None

    # ------------------------------------------------------------------ proving

    def _dedup_id(self, statement: Statement, compiled: cairo.CompiledProgram) -> str:
        h = hashlib.sha256(f"{statement.statement_hash()}:{compiled.bootloader_program_hash:x}:{self.result}:"
                           f"{self.network}:{self.layout}".encode())
        return "zkp-" + h.hexdigest()[:40]

    def _fields(self, statement: Statement, compiled: cairo.CompiledProgram) -> dict[str, str]:
        """The query's form fields; ``dedupId`` lets a retried submission find the first one instead of paying twice."""
        return {"declaredJobSize": self.declared_job_size, "layout": self.layout, "result": self.result,
                "network": self.network, "cairoVersion": "cairo0", "externalId": statement.statement_hash(),
                "dedupId": self._dedup_id(statement, compiled)}

    def prove(self, statement: Statement, timeout_s: float) -> ProofArtifact:
        self.check_available()
        started = time.monotonic()
        deadline = started + timeout_s
        expected = _expected_or_fail(self.name, statement)
        compiled = self.compiled(max(deadline - time.monotonic(), 1))
        with tempfile.TemporaryDirectory(prefix="zkp-atlantic-") as tmp:
            try:
                run = cairo.run_program(compiled, statement, Path(tmp), cairo_run=self.cairo_run,
                                        timeout_s=max(deadline - time.monotonic(), 0.1), on_start=self.on_start)
            except cairo.CairoToolTimeout:
                raise self.client.error(ProverTimeout,
                                        f"cairo-run still running after {timeout_s:g}s; killed") from None
            except cairo.CairoToolError as exc:
                raise self.client.error(ProverFailed, str(exc)) from None
            if run.output != expected:
                raise self.client.error(ProverFailed, "the Cairo run's output differs from the model's; not submitted")
            query_id = self.client.submit(run.pie, self._fields(statement, compiled), deadline)
        log.info("atlantic: submitted query %s", query_id)
        doc = self.client.wait(query_id, deadline, timeout_s)
        query = doc["atlanticQuery"]
        if query.get("status") == "FAILED":
            step = query.get("step") or "?"
            reason = f"query {query_id} FAILED at step {step}: {query.get('errorReason') or 'no reason given'}"
            raise self.client.error(ProofRejected if step in VERIFICATION_STEPS else ProverFailed, reason)
        proof = self.client.download_proof(query_id, doc, deadline)
        details = {"atlantic_query_id": query_id, **_query_summary(query),
                   "bootloader_program_hash": hex(compiled.bootloader_program_hash)}
        return ProofArtifact(proof=proof, backend=self.name,
                             prove_ms=int((time.monotonic() - started) * 1000), details=details)

    def facts(self, statement: Statement, artifact: ProofArtifact, security_bits: int) -> dict[str, Any]:
        """Integrity's fact of the Stone proof itself (program and output segments of its public memory)."""
        proof = stone_facts.parse_stone_proof(json.loads(artifact.proof))
        return stone_facts.compute_facts(proof, MEMORY_VERIFICATION).to_json()

    # ------------------------------------------------------------------ verification

    def verify(self, statement: Statement, artifact: ProofArtifact, min_security_bits: int) -> Verification:
        started = time.monotonic()

        def verdict(valid: bool, reason: str, bits: int = 0) -> Verification:
            return Verification(valid=valid, reason=self.client.redact(reason), security_bits=bits,
                                verify_ms=int((time.monotonic() - started) * 1000), verifier="integrity",
                                l2_fact_hash=(query.get("integrityFactHash") or None) if valid else None)

        query: dict[str, Any] = {}

        query_id = artifact.details.get("atlantic_query_id")
        if not query_id:
            return verdict(False, "the artifact names no Atlantic query")
        deadline = time.monotonic() + self.client.request_timeout_s * 3
        query = self.client.get_query(str(query_id), deadline)["atlanticQuery"] or {}
        remote = _remote_verdict(query)
        if remote:
            return verdict(False, f"the service did not verify query {query_id}: {remote}")
        try:
            proof = stone_facts.parse_stone_proof(json.loads(artifact.proof))
            _, output = stone_facts.program_and_output(proof, "strict")
        except (ValueError, stone_facts.StoneProofError) as exc:
            return verdict(False, f"the downloaded proof is not a usable Stone proof: {exc}")
        bits = stone_facts.security_bits(proof)
        if bits < min_security_bits:
            return verdict(False, f"security {bits} bits is below the required {min_security_bits}", bits)
        if self.bootloader_hash is not None:
            proven = stone_facts.program_hash(proof, "strict")
            if proven != self.bootloader_hash:
                return verdict(False, f"the proof is of program {hex(proven)}, not the configured bootloader "
                                      f"{hex(self.bootloader_hash)}", bits)
        try:
            expected = cairo.expected_output(statement)
        except ValueError as exc:
            return verdict(False, f"the statement cannot be a program input: {exc}", bits)
        compiled = self.compiled()
        problem = check_task_output(output, expected, compiled.bootloader_program_hash)
        if problem:
            return verdict(False, problem, bits)
        # The service's own ``programHash`` is only recorded: whether it names the bootloader or the task is
        # not documented, and the task's hash inside the proven output is what the proof actually binds.
        return verdict(True, "", bits)


def check_task_output(output: list[int], expected: list[int], program_hash: int) -> str | None:
    """None if ``output`` is ours, directly or as the single task of a simple bootloader; else why not."""
    output = list(output)
    if output == expected:
        return None
    if len(output) >= 3 and output[0] == 1:
        size, task_hash, task_output = output[1], output[2], output[3:]
        if size != len(task_output) + 2:
            return f"bootloader output says the task has {size - 2} output felts, it has {len(task_output)}"
        if task_hash != program_hash:
            return f"the bootloaded task is program {hex(task_hash)}, not ours {hex(program_hash)}"
        if task_output != expected:
            return "the proven task output is not this statement's result"
        return None
    return f"the proven output ({len(output)} felts) is neither our output nor a one-task bootloader output"


def _remote_verdict(query: dict[str, Any]) -> str | None:
    """None when the service verified the proof itself; otherwise what is missing."""
    status, step, steps = query.get("status"), query.get("step"), query.get("steps") or []
    if status != "DONE":
        return f"status {status} (step {step}): {query.get('errorReason') or 'not done'}"
    if query.get("result") and query["result"] not in VERIFYING_RESULTS:
        return f"the query only asked for {query['result']}, not a verification"
    if not (step in VERIFICATION_STEPS or any(s in VERIFICATION_STEPS for s in steps)):
        return f"no verification step ran (steps {steps or [step]})"
    if query.get("isFactMocked"):
        return "the fact was mocked, not verified"
    if not query.get("integrityFactHash"):
        return "no Integrity fact hash was registered"
    return None


def _query_summary(query: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "step", "steps", "result", "network", "layout", "chain", "programHash", "integrityFactHash",
            "isFactMocked", "errorReason", "createdAt", "completedAt")
    return {k: query.get(k) for k in keys if k in query}
