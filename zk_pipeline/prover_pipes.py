"""Prover children inside a Dagster step: their own word through Dagster Pipes, and a record of each.

A proof step's work happens in child processes (``child_process.py``), out of
Dagster's sight unless the step looks. ``prover_pipes(context)`` looks:

* a child that speaks Pipes (the built-in prover, ``zkp prove``) is launched
  inside a Pipes session: the context goes into its environment
  (``PipesEnvContextInjector``), its messages come back through a temporary
  file (``PipesTempFileMessageReader``; its stdout stays the proof report the
  backend parses). Its log lines land in the run's event log as it runs; its
  timings message (a Pipes custom message) becomes ``prover_reports`` in the
  step's output metadata, which an asset and an op both have;
* every child — also ``cairo-run`` and the Stone binaries, which cannot speak
  Pipes — gets one event-log line when it ends: command name (no paths, no
  arguments), pid, how it ended, elapsed ms; the step's metadata lists them
  as ``prover_processes``.

The child keeps its session, its parent-death signal, its timeout kill and its
redacted environment: ``run_child`` still starts it, the session only adds
variables. A child that dies without closing its session still ends the
session when it is reaped (the reader drains the file and stops); Dagster
then logs that no closing message came. Outside a step nothing of this runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetExecutionContext,
    MetadataValue,
    OpExecutionContext,
    PipesEnvContextInjector,
    PipesTempFileMessageReader,
    open_pipes_session,
)

from zk_pipeline.child_process import WatchedChild, watching_children
from zk_pipeline.redaction import public_text

#: Kinds of values a child's timings message may carry into the metadata (numbers, names, a phase breakdown).
_REPORT_SCALARS = (int, float, str, bool)


def _scalars(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in payload.items() if isinstance(v, _REPORT_SCALARS)}


def _report(payload: Any) -> dict[str, Any] | None:
    """A child's timings message as metadata: flat scalars, ``phases_ms`` kept one level deep."""
    if not isinstance(payload, Mapping):
        return None
    report = _scalars(payload)
    if isinstance(payload.get("phases_ms"), Mapping):
        report["phases_ms"] = _scalars(payload["phases_ms"])
    return report


@dataclass
class ProverChildren:
    """The children one step started, as recorded by ``prover_pipes``."""

    context: OpExecutionContext | AssetExecutionContext
    processes: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def watch(self, child: WatchedChild) -> Iterator[None]:
        session = None
        try:
            if child.speaks_pipes:
                # The op view of an asset step: Pipes only logs and reports messages here, and Dagster's Pipes
                # code reads ``run_id``, deprecated on AssetExecutionContext.
                op_context = getattr(self.context, "op_execution_context", self.context)
                with open_pipes_session(context=op_context, context_injector=PipesEnvContextInjector(),
                                        message_reader=PipesTempFileMessageReader()) as session:
                    child.env.update(session.get_bootstrap_env_vars())
                    yield
            else:
                yield
        finally:
            messages = session.get_custom_messages() if session is not None else ()
            self._record(child, [r for r in map(_report, messages) if r])

    def _record(self, child: WatchedChild, reports: list[dict[str, Any]]) -> None:
        command = public_text(child.command) or "?"
        pid = child.pid if child.pid is not None else "-"
        self.processes.append({"command": command, "pid": child.pid, "outcome": child.outcome,
                               "elapsed_ms": child.elapsed_ms, "pipes": child.speaks_pipes})
        self.reports += reports
        said = "".join(f"; reported {_summary(r)}" for r in reports)
        self.context.log.info(f"prover child {command}: pid {pid}, {public_text(child.outcome)}, "
                              f"{child.elapsed_ms} ms{said}")

    def metadata(self) -> dict[str, MetadataValue]:
        """For the step's output (or its ``Failure``): every child, and what the Pipes ones reported."""
        if not self.processes:
            return {}
        out = {"prover_processes": MetadataValue.json(self.processes)}
        if self.reports:
            out["prover_reports"] = MetadataValue.json(self.reports)
        return out


def _summary(report: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {report[k]}" for k in ("prove_ms", "verify_ms", "proof_bytes") if k in report)


@contextmanager
def prover_pipes(context: OpExecutionContext | AssetExecutionContext) -> Iterator[ProverChildren]:
    """Watch every prover child started in this block from the step ``context``: Pipes and a record."""
    children = ProverChildren(context)
    with watching_children(children.watch):
        yield children
