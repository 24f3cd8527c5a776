"""Wire models of behaviors: the document a client uploads, and stored versions as the Keeper shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, JsonValue

from koipond.models import behavior as domain
from koipond.models import behavior_diff as diff
from koipond.models.behavior_preview import preview_behavior


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


class BehaviorVersionOut(BaseModel):
    """One stored version, summarized: who stored it, when, and the load it makes."""

    name: str
    version: int
    created_at: datetime
    created_by: str
    description: str
    actions: int = Field(description="How many actions the version has.")
    steady_per_koi_per_hour: float = Field(description="Calls per koi per hour of every action (formations aside).")
    requests_per_second: float = Field(
        description="Per 1,000 koi: the steady state plus every formation averaged over its period "
        "(the total `koipond behaviors check` prints)."
    )

    @classmethod
    def of(cls, behavior: domain.StoredBehavior) -> BehaviorVersionOut:
        document = behavior.document
        return cls(
            name=behavior.name,
            version=behavior.version,
            created_at=behavior.created_at,
            created_by=behavior.created_by,
            description=document.description,
            actions=len(document.actions),
            steady_per_koi_per_hour=document.steady_rate_per_hour,
            requests_per_second=preview_behavior(document).total_requests_per_second,
        )


class BehaviorVersionListOut(BaseModel):
    name: str
    versions: list[BehaviorVersionOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null when no version is left."
    )


class DiffSideOut(BaseModel):
    """One side of a diff: a stored version (or, from the CLI, a local file) and its steady rate."""

    version: int | None = None
    file: str | None = None
    steady_per_koi_per_hour: float
    steady_requests_per_second: float = Field(description="Per 1,000 koi.")


class ActionRateOut(BaseModel):
    action: str
    method: str
    path: str
    per_koi_per_hour: float
    requests_per_second: float = Field(description="Per 1,000 koi.")

    @classmethod
    def of(cls, rate: diff.ActionRate) -> ActionRateOut:
        return cls.model_validate(rate, from_attributes=True)  # requests_per_second is the rate's property


class RateChangeOut(BaseModel):
    action: str
    rate_per_hour_before: float
    weight_before: float
    rate_per_hour_after: float
    weight_after: float
    before_per_koi_per_hour: float = Field(description="rate_per_hour x weight.")
    after_per_koi_per_hour: float
    delta_per_koi_per_hour: float
    delta_requests_per_second: float = Field(description="Per 1,000 koi.")
    percent: float | None = Field(description="Relative to before; null when before was 0.")

    @classmethod
    def of(cls, change: diff.RateChange) -> RateChangeOut:
        return cls(
            action=change.action,
            rate_per_hour_before=change.rate_before,
            weight_before=change.weight_before,
            rate_per_hour_after=change.rate_after,
            weight_after=change.weight_after,
            before_per_koi_per_hour=change.before_per_koi_per_hour,
            after_per_koi_per_hour=change.after_per_koi_per_hour,
            delta_per_koi_per_hour=change.delta_per_koi_per_hour,
            delta_requests_per_second=change.delta_requests_per_second,
            percent=change.percent,
        )


class FieldChangeOut(BaseModel):
    section: diff.Section
    subject: str = Field(description='The action or formation; "" for description, websocket and channels.')
    field: str = Field(description="Dotted, within the subject: path, params.channel, steps.react.koi.")
    where: str = Field(description="The whole dotted path in the document, e.g. actions.post_message.path.")
    kind: diff.ChangeKind
    before: JsonValue = Field(description="null when added.")
    after: JsonValue = Field(description="null when removed.")

    @classmethod
    def of(cls, change: diff.FieldChange) -> FieldChangeOut:
        return cls.model_validate(change, from_attributes=True)  # where is the change's property


class BehaviorDiffOut(BaseModel):
    """What changed from one behavior document (before) to another (after)."""

    name: str
    before: DiffSideOut
    after: DiffSideOut
    empty: bool = Field(description="True when the two documents are the same.")
    actions_added: list[ActionRateOut]
    actions_removed: list[ActionRateOut]
    rate_changes: list[RateChangeOut]
    formations_added: list[str]
    formations_removed: list[str]
    changes: list[FieldChangeOut] = Field(
        description="Every other differing field: action templates, websocket, channels, description, "
        "the fields and steps of formations on both sides."
    )

    @classmethod
    def of(cls, name: str, before: DiffSideOut, after: DiffSideOut, found: diff.BehaviorDiff) -> BehaviorDiffOut:
        return cls(
            name=name,
            before=before,
            after=after,
            empty=found.empty,
            actions_added=[ActionRateOut.of(a) for a in found.actions_added],
            actions_removed=[ActionRateOut.of(a) for a in found.actions_removed],
            rate_changes=[RateChangeOut.of(c) for c in found.rate_changes],
            formations_added=list(found.formations_added),
            formations_removed=list(found.formations_removed),
            changes=[FieldChangeOut.of(c) for c in found.changes],
        )

    @classmethod
    def of_versions(
        cls, before: domain.StoredBehavior, after: domain.StoredBehavior, found: diff.BehaviorDiff
    ) -> BehaviorDiffOut:
        return cls.of(
            before.name,
            diff_side(before.document, version=before.version),
            diff_side(after.document, version=after.version),
            found,
        )


def diff_side(document: domain.BehaviorDocument, *, version: int | None = None, file: str | None = None) -> DiffSideOut:
    """One side of a diff: a stored ``version`` or a local ``file`` holding ``document``."""
    steady = document.steady_rate_per_hour
    return DiffSideOut(
        version=version,
        file=file,
        steady_per_koi_per_hour=steady,
        steady_requests_per_second=diff.per_1000_koi_per_second(steady),
    )
