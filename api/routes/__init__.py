"""Version 1 of the HTTP API; a breaking change gets a new prefix, not edits here."""

from fastapi import APIRouter

from api.routes import execution, health, model_registry, proofs, risk_engine, verification

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(risk_engine.router)
api_router.include_router(execution.router)
api_router.include_router(model_registry.router)
api_router.include_router(proofs.router)
api_router.include_router(verification.router)
api_router.include_router(health.router)
