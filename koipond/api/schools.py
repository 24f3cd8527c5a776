"""Wire models of the Schools list: each School's capacity, liveness and load (the poll is in poll.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from koipond.models.schools import School


class SchoolOut(BaseModel):
    id: str
    capacity: int
    live: bool
    assigned_koi: int = Field(description="koi in the School's assignment, as the allocator last wrote it.")
    running_koi: int = Field(description="koi the School said it runs at its last poll.")
    running_tests: int = Field(description="tests with koi on the School at its last poll.")
    running: dict[str, int] = Field(description="koi the School runs per test id, as it last reported them.")
    last_poll_at: datetime
    first_seen_at: datetime

    @classmethod
    def of(cls, school: School, live: bool) -> SchoolOut:
        return cls(**school.model_dump(exclude={"assignment_version"}), live=live)


class SchoolListOut(BaseModel):
    schools: list[SchoolOut]
