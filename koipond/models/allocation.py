"""Koi index ranges and the allocation of running tests' koi to Schools (domain model)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator


class KoiRange(BaseModel):
    """Half-open range ``[start, end)`` of koi indexes; koi ``i`` acts as user ``i``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _non_empty(self) -> KoiRange:
        if self.end <= self.start:
            raise ValueError(f"empty koi range [{self.start}, {self.end})")
        return self

    @property
    def size(self) -> int:
        return self.end - self.start


def count_koi(ranges: Iterable[KoiRange]) -> int:
    """Total number of koi indexes covered by ``ranges`` (assumed disjoint)."""
    return sum(r.size for r in ranges)


# school_id -> test_id -> sorted, disjoint, non-adjacent ranges
AssignmentMap = Mapping[str, Mapping[str, tuple[KoiRange, ...]]]


class Allocation(BaseModel):
    """Which School runs which koi of which test: the allocation decision's input and output.

    Stored as one item per School (:class:`koipond.models.assignments.SchoolAssignment`); the allocator
    decides on the whole pond at once in memory, in blocks of koi.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(default=0, ge=0)
    assignments: dict[str, dict[str, tuple[KoiRange, ...]]] = Field(default_factory=dict)

    def for_school(self, school_id: str) -> dict[str, tuple[KoiRange, ...]]:
        return dict(self.assignments.get(school_id, {}))

    def koi_of_test(self, test_id: str) -> dict[str, int]:
        """koi count per School for one test."""
        return {
            school_id: count_koi(tests[test_id]) for school_id, tests in self.assignments.items() if test_id in tests
        }

    def load_of_school(self, school_id: str) -> int:
        return sum(count_koi(r) for r in self.assignments.get(school_id, {}).values())

    def same_assignments(self, other: Allocation) -> bool:
        return self.assignments == other.assignments
