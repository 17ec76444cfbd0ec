"""Execution of decisions on Starknet: an admin records a request (Dagster executes it); anyone reads its state."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response

from api.auth import ADMIN_RESPONSES, AdminDep
from api.deps import SessionDep, SessionReleasingRoute, SettingsDep, dagster_instance, resolve_database_url
from api.schemas import ExecuteAllocationRequest, ExecutionAccepted, ExecutionRequestInfo, ExecutionState
from zk_pipeline.db.session import session_scope
from zk_pipeline.services import dagster_runs, executions

router = APIRouter(prefix="/risk-engine", tags=["risk-engine"], route_class=SessionReleasingRoute)


def _instance_or_none(settings):
    """Dagster's instance to see whether a launched request's run goes on; None without DAGSTER_HOME
    (a launched request then counts as open until its run closes it)."""
    try:
        return dagster_instance(settings)
    except dagster_runs.DagsterUnavailable:
        return None


@router.post(
    "/execute-allocation",
    response_model=ExecutionAccepted,
    status_code=202,
    summary="Execute a decision on Starknet (admin)",
    responses={
        **ADMIN_RESPONSES,
        200: {"model": ExecutionAccepted,
              "description": "The decision has an open request (pending, or its run going on): it is returned "
                             "(`already_requested: true`)."},
        404: {"description": "No such decision."},
        409: {"description": "The decision is settled on chain (accepted or reverted): it is not executed again; "
                             "or `send: true` where this deployment does not send (`ZKP_EXECUTION_SEND` off)."},
        422: {"description": "A malformed body."},
    },
)
def execute_allocation(request: Request, response: Response, settings: SettingsDep, admin: AdminDep,
                       body: ExecuteAllocationRequest) -> ExecutionAccepted:
    """Records a request to execute the decision; Dagster's `execution_requests_sensor` starts one run of
    `execution_job` for it, which checks the decision (verified proof of this very decision; the fact on
    chain for the risk engine), signs and sends it (or dry-runs it) at most once. **202** with `status_url`;
    a decision with an open request returns it with **200**, from any API process.

    A dry run is the default: `send` may be `true` only where the deployment allows sending
    (`ZKP_EXECUTION_SEND=true`, which also makes sending the default).
    """
    decision_id = str(body.decision_id)
    with session_scope(resolve_database_url(request)) as s:
        requested = executions.request_execution(s, _instance_or_none(settings), decision_id, body.send,
                                                 settings.execution)
        info = ExecutionRequestInfo.model_validate(requested.request)
    status_url = request.app.url_path_for("execution_status", decision_id=decision_id)
    response.status_code = 200 if requested.existing else 202
    response.headers["Location"] = status_url
    return ExecutionAccepted(
        decision_id=decision_id, request=info, already_requested=requested.existing, status_url=status_url,
        note=None if info.run_id else "recorded; Dagster's execution_requests_sensor starts its run (within seconds "
                                      "while the Dagster daemon runs)")


@router.get(
    "/execution/{decision_id}",
    response_model=ExecutionState,
    summary="Execution state of a decision",
    responses={404: {"description": "The decision was neither executed nor requested for execution."}},
)
def execution_status(
    session: SessionDep,
    decision_id: Annotated[uuid.UUID, Path(description="The decision's UUID (any case).")],
) -> ExecutionState:
    """The decision's transaction as recorded (status, hash, nonce, block, fee, error, times) and its latest
    execution request. A request whose run has not recorded anything yet reports `requested`."""
    view = executions.execution_view(session, str(decision_id))
    if view is None:
        raise HTTPException(404, detail=f"decision {decision_id} was neither executed nor requested for execution")
    row = view.execution
    fields = {name: getattr(row, name, None) for name in (
        "transaction_hash", "nonce", "block_number", "chain_id", "sender_address", "target", "contract_address",
        "actual_fee", "error", "created_at", "updated_at", "submitted_at", "finished_at")}
    return ExecutionState(
        decision_id=view.decision_id, status=view.status, executed=view.status == "accepted", **fields,
        request=ExecutionRequestInfo.model_validate(view.request) if view.request else None)
