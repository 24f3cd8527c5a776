"""Writes that must happen together: a repository stages them, one ``commit`` applies them all or none.

A service never sees what a staged write is (a DynamoDB transaction item, a closure over a dict): it only
collects them from repositories and hands them back, so an event, a counter move and a rollout's step
land in one transaction with the change they belong to.
"""

from __future__ import annotations

from typing import Protocol


class StagedWrite(Protocol):
    """One write a repository prepared but did not apply; opaque to services."""
