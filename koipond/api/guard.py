"""Wire models of the shutdown guard: its queries in and out, their last evaluations, a deletion."""

from __future__ import annotations

from pydantic import BaseModel, Field

from koipond.models import guard as domain


class GuardQuery(domain.GuardQuery):
    # A query is written and read exactly as the guard keeps it: the domain rule's schema and checks,
    # named and described as before so the OpenAPI document keeps its component.
    __doc__ = domain.GuardQuery.__doc__

    @classmethod
    def of(cls, query: domain.GuardQuery) -> GuardQuery:
        return cls.model_validate(query.model_dump())


class GuardQueryOut(BaseModel):
    query: GuardQuery
    last: domain.Evaluation | None = Field(
        description="The last evaluation: value, outcome and time; null before the first."
    )


class GuardOut(BaseModel):
    clusters: list[str] = Field(description="Configured Prometheus endpoints queries may name.")
    queries: list[GuardQueryOut]


class GuardQueryDeletedOut(BaseModel):
    deleted: str = Field(description="The label of the deleted query.")
