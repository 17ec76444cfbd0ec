"""Model versions as mirrored into the database by the pipeline.

The database, not this process's code, is the source of truth here: it says
which version the pipeline last treated as current and which hashes decisions
may refer to.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Path, Request, Response

from api.auth import ADMIN_RESPONSES, AdminDep
from api.deps import SessionDep, SessionReleasingRoute, resolve_database_url
from api.schemas import ModelDefinition, ModelVersion
from zk_pipeline.db.session import session_scope
from zk_pipeline.services import model_registration, model_versions

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


@router.post(
    "/register",
    response_model=ModelVersion,
    status_code=201,
    summary="Register a model version (admin)",
    responses={
        **ADMIN_RESPONSES,
        409: {"description": "These parameters are a version on record already (its number and hash are named)."},
        422: {"description": "Not a valid model: the detail names the parameter and its rule."},
    },
)
def register(
    request: Request,
    response: Response,
    admin: AdminDep,
    definition: Annotated[ModelDefinition, Body()],
) -> ModelVersion:
    """Checks every parameter by the rules statements are checked by, computes the model hash for the next
    version number and stores it, immutable (`origin: registered`); **201** with `Location` naming it.

    The pipeline runs a registered version where `ZKP_MODEL_VERSION` pins it; without a pin it runs the
    highest version defined in its code (README, "Model registry").
    """
    with session_scope(resolve_database_url(request)) as s:
        row = model_registration.register(s, definition.model_dump())
        registered = ModelVersion.model_validate(row)
    response.headers["Location"] = request.app.url_path_for("get_version", version=registered.version)
    return registered
