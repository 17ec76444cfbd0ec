"""Model versions as mirrored into the database by the pipeline.

The database, not this process's code, is the source of truth here: it says
which version the pipeline last treated as current and which hashes decisions
may refer to.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.deps import SessionDep, SessionReleasingRoute
from api.schemas import ModelVersion
from zk_pipeline.services import model_versions

router = APIRouter(prefix="/model-registry", tags=["model-registry"], route_class=SessionReleasingRoute)


@router.get(
    "/current",
    response_model=ModelVersion,
    summary="Current model version",
    responses={404: {"description": "The registry has not been synced yet."}},
)
def current_version(session: SessionDep) -> ModelVersion:
    row = model_versions.current(session)
    if row is None:
        raise HTTPException(404, detail="no current model version registered (has the pipeline synced the registry?)")
    return ModelVersion.model_validate(row)


@router.get("/history", response_model=list[ModelVersion], summary="All model versions, newest first")
def history(session: SessionDep) -> list[ModelVersion]:
    return [ModelVersion.model_validate(r) for r in model_versions.history(session)]


@router.get(
    "/version/{version}",
    response_model=ModelVersion,
    summary="One model version",
    responses={404: {"description": "Unknown version."}},
)
def get_version(
    session: SessionDep,
    version: Annotated[int, Path(ge=0, le=2**31 - 1, description="Version number (the column is a 32-bit integer).")],
) -> ModelVersion:
    row = model_versions.get(session, version)
    if row is None:
        raise HTTPException(404, detail=f"model version {version} not found")
    return ModelVersion.model_validate(row)
