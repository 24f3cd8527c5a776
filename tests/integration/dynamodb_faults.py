"""The embedded DynamoDB with calls that fail on demand: an outage of some operations, or a process that
dies after its n-th write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError


class FailingDynamoDB:
    """Wraps a boto3 DynamoDB client: ``failing`` operations raise, ``writes_left`` counts transactions down,
    ``after_write`` runs after each transaction that went through; ``calls`` lists every operation called."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.failing: set[str] = set()
        self.writes_left: int | None = None  # None: unlimited
        self.after_write: Callable[[], None] | None = None  # e.g. an invariant checked between two writes
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if callable(real) and not name.startswith("_"):
            self.calls.append(name)
        if name in self.failing:
            return _failure(name)
        if name == "transact_write_items" and self.writes_left is not None:
            if self.writes_left <= 0:
                return _failure(name)
            self.writes_left -= 1
        if name == "transact_write_items" and self.after_write is not None:
            return self._checked(real, self.after_write)
        return real

    @staticmethod
    def _checked(write: Callable[..., Any], check: Callable[[], None]) -> Callable[..., Any]:
        def write_then_check(**kwargs: Any) -> Any:
            answer = write(**kwargs)
            check()
            return answer

        return write_then_check


def _failure(name: str) -> Any:
    def fail(**_: Any) -> Any:
        error: Any = {"Error": {"Code": "InternalServerError", "Message": "injected failure"}}
        raise ClientError(error, name)

    return fail
