"""Model versions as the pipeline mirrored them into the database (the source of truth for the API)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zk_pipeline.db.models import ModelVersionRecord


def current(session: Session) -> ModelVersionRecord | None:
    return session.scalar(select(ModelVersionRecord).where(ModelVersionRecord.is_current)
                          .order_by(ModelVersionRecord.version.desc()).limit(1))


def history(session: Session) -> list[ModelVersionRecord]:
    return list(session.scalars(select(ModelVersionRecord).order_by(ModelVersionRecord.version.desc())))


def get(session: Session, version: int) -> ModelVersionRecord | None:
    return session.get(ModelVersionRecord, version)
