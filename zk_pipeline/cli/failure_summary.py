"""One short paragraph saying why a Dagster run failed, for a person at a terminal.

Dagster's own account of a failed run is its event log: complete, but tens of
lines and several stack traces, with the cause (a DNS failure, a bad row)
buried in the middle. ``zkp run`` prints this instead and points at the UI,
where the full log and the check's tables are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Bad rows quoted in the paragraph; the check's ``rows`` metadata in the UI lists all of them.
ROWS_SHOWN = 3
_MAX_MESSAGE = 300


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _root_message(error: Any) -> str:
    """The innermost cause's message of a ``SerializableErrorInfo`` chain, without its class prefix."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = (getattr(error, "message", "") or "").strip()
    return message.split(": ", 1)[1] if message.startswith(f"{getattr(error, 'cls_name', None)}: ") else message


def _row_text(row: Mapping[str, Any]) -> str:
    where = row.get("row") or f"{row.get('protocol', '?')} {row.get('hour', '?')}"
    return f"{where}: {row.get('rule', '?')} — {row.get('detail', '')}".strip()


def _failed_checks(evaluations: Iterable[Any]) -> list[str]:
    lines = []
    for ev in evaluations:
        if ev.passed:
            continue
        metadata = {k: getattr(v, "value", v) for k, v in (ev.metadata or {}).items()}
        rows = [r for r in (metadata.get("rows") or []) if isinstance(r, Mapping) and "rule" in r]
        blocking = [r for r in rows if r.get("action") in ("rejected", "missing")] or rows
        head = f"check {ev.check_name} on {'/'.join(ev.asset_key.path)} failed ({ev.severity.value})"
        if blocking:
            head += f", {len(blocking)} bad row(s); first: " + "; ".join(_row_text(r) for r in blocking[:ROWS_SHOWN])
        lines.append(_short(head))
    return lines


def summarize_failed_run(result: Any, partition: str, ui_url: str | None) -> str:
    """``result``: an ``ExecuteInProcessResult`` that did not succeed."""
    lines = [f"the materialization of hour {partition} failed (run {result.run_id[:8]})."]
    checks = _failed_checks(result.get_asset_check_evaluations())
    lines += checks
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        user = getattr(data, "user_failure_data", None)
        reason = (user.description if user is not None and user.description else _root_message(data.error))
        if checks and "asset check" in reason.lower():
            continue  # the check line above already says it, with the rows
        lines.append(_short(f"step {event.step_key} failed: {reason}"))
    if ui_url:
        lines.append(f"Details: {ui_url}/runs/{result.run_id} (the run's event log; a check's \"rows\" "
                     "metadata lists every bad row). Fix the cause, then materialize the hour again from the "
                     "asset's page, or let the hourly schedule pick up the next hour.")
    return "\n  ".join(lines)
