"""One object per process, built on first use, that tests can replace for the length of a block."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Generic, TypeVar

from koipond.aws_clients import dynamodb_client
from koipond.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")


class ProcessWide(Generic[T]):
    """The process's one ``T``, built on the first :meth:`get` (a Lambda cold start), never at import time.

    Args:
        build: makes the ``T`` from the process's settings and a DynamoDB client made from them.
    """

    def __init__(self, build: Callable[[Settings, DynamoDBClient], T]) -> None:
        self._build = build
        self._injected: list[T] = []

    def get(self) -> T:
        """The innermost injected ``T``, else the process's own."""
        return self._injected[-1] if self._injected else self._default()

    @contextmanager
    def injected(self, value: T) -> Iterator[T]:
        """Make :meth:`get` return ``value`` inside the block (tests wire their own clock, table, provider)."""
        self._injected.append(value)
        try:
            yield value
        finally:
            self._injected.remove(value)

    @lru_cache(maxsize=1)  # noqa: B019 - one instance per module, living as long as the process
    def _default(self) -> T:
        settings = get_settings()
        return self._build(settings, dynamodb_client(settings))
