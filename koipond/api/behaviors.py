"""Wire models of behaviors: the document a client uploads, and stored versions as the Keeper shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from koipond.models import behavior as domain


class BehaviorDocument(domain.BehaviorDocument):
    # The upload is the behavior document itself: the same schema and validation as the domain model,
    # named and described as it was so the OpenAPI document keeps its component.
    __doc__ = domain.BehaviorDocument.__doc__


class BehaviorOut(BaseModel):
    name: str
    version: int
    created_at: datetime
    created_by: str
    document: dict[str, Any]

    @classmethod
    def of(cls, behavior: domain.StoredBehavior) -> BehaviorOut:
        return cls(
            name=behavior.name,
            version=behavior.version,
            created_at=behavior.created_at,
            created_by=behavior.created_by,
            document=behavior.document.model_dump(mode="json", exclude_none=True),
        )


class BehaviorListOut(BaseModel):
    behaviors: list[BehaviorOut]
