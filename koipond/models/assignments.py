"""One School's assignment, the unit the allocator writes and a poll reads, and the allocator's lease."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from koipond.models.allocation import KoiRange, count_koi
from koipond.models.schools import LoadTestAssignment

# Koi are handed out in blocks of this many indexes: block b of a test is [b * KOI_BLOCK, (b + 1) * KOI_BLOCK),
# its last block cut at the test's demand. A School holds at most capacity / KOI_BLOCK blocks, so however
# often tests are scaled, its ranges cannot fragment into more pieces than that.
KOI_BLOCK = 100

# Every assignment write gets a stamp no other write ever had: the lease's fence (which grows with every
# new holder) times this, plus the holder's count of its own writes. A School only compares stamps for
# equality ("do I run this one already?"), so a stamp must never come back, not even for an item that
# was deleted and created again; a per-item counter would start over at 1.
WRITES_PER_FENCE = 10**12


class SchoolAssignment(BaseModel):
    """What one School runs, per test, with everything it needs to run it: one item per School.

    Only the allocator holding the lease writes it (each write is fenced by the lease's token), so
    no item grows with the number of Schools, and a poll reads exactly one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    school_id: str
    version: int = Field(default=0, ge=0, description="the write's stamp; 0: never written")
    tests: tuple[LoadTestAssignment, ...] = ()

    def ranges(self) -> dict[str, tuple[KoiRange, ...]]:
        """koi ranges per test id."""
        return {t.test_id: t.ranges for t in self.tests}

    @property
    def koi(self) -> int:
        return sum(count_koi(t.ranges) for t in self.tests)

    def koi_of(self, test_id: str) -> int:
        return sum(count_koi(t.ranges) for t in self.tests if t.test_id == test_id)


class AllocatorLease(BaseModel):
    """Who may allocate until when; ``fence`` grows with every new holder and guards every write."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holder: str
    fence: int = Field(ge=1)
    expires_at: float  # epoch seconds

    def stamp(self, write: int) -> int:
        """The stamp of this holder's ``write``-th assignment write under this lease (see WRITES_PER_FENCE)."""
        if not 1 <= write < WRITES_PER_FENCE:
            raise ValueError(f"write number {write} outside 1..{WRITES_PER_FENCE - 1}: take the lease again")
        return self.fence * WRITES_PER_FENCE + write
