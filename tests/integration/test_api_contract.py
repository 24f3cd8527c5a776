"""One typed contract: every route's request and response models are koipond.api's, and clients read them."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from koipond.api.client import KeeperClient
from koipond.api.meta import VocabularyOut
from koipond.composition import Keeper
from koipond.models.rollouts import RolloutStatus
from koipond.models.tests import LoadTestStatus
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import NotificationStatus
from koipond_cli.main import cli
from tests.conftest import ADMIN_TOKEN
from tests.integration.keeper_http import keeper_over_http


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names, through Annotated, unions, tuples and lists."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def _route_models() -> Iterator[tuple[str, str, type[BaseModel]]]:
    from lambdas.keeper_api.handler import app

    for route in [*app._static_routes, *app._dynamic_routes]:
        hints = typing.get_type_hints(route.func, include_extras=True)
        for name, annotation in hints.items():
            for model in _models(annotation):
                # Principal comes from the token (a dependency), never from the request or into the answer.
                if model.__name__ != "Principal":
                    yield f"{route.method} {route.path}", name, model


def test_every_route_takes_and_answers_models_of_koipond_api() -> None:
    found = list(_route_models())
    assert len({where for where, _, _ in found}) > 40  # every /v1 route and /healthz, not a few
    strays = {f"{where} {name}: {m.__module__}.{m.__qualname__}" for where, name, m in found}
    strays = {s for s in strays if not s.split(": ")[1].startswith("koipond.api.")}
    assert strays == set()


def test_the_error_envelope_is_koipond_apis() -> None:
    from lambdas.keeper_api import errors

    assert errors.ErrorOut.__module__ == "koipond.api.errors"


@pytest.fixture
def keeper_url(keeper: Keeper) -> Iterator[str]:
    with keeper_over_http() as url:
        yield url


def test_the_vocabulary_route_lists_every_enum_value_in_order(keeper_url: str) -> None:
    with KeeperClient(keeper_url, ADMIN_TOKEN) as client:
        answer = client.vocabulary()
    assert isinstance(answer, VocabularyOut)
    assert answer.notification_kinds == list(NotificationKind)
    assert NotificationKind.AUTOMATIC_RESUME in answer.notification_kinds
    assert answer.notification_statuses == list(NotificationStatus)
    assert answer.test_statuses == list(LoadTestStatus)
    assert answer.rollout_statuses == list(RolloutStatus)


def test_tokens_generate_says_before_it_starts_that_users_round_to_whole_shards() -> None:
    # Nothing listens on port 9: the call fails, after the rounding has been said.
    args = ["--keeper-url", "http://127.0.0.1:9", "--token", ADMIN_TOKEN, "tokens", "generate"]
    result = CliRunner().invoke(cli, [*args, "--workspace", "w", "--users", "0-250", "--target", "http://t.example"])
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())
    assert "users 0-250 round to whole shards of 100: 300 tokens, users 0-299" in said
    assert said.index("round to whole shards") < said.index("cannot reach the Keeper")


def test_tokens_generate_says_nothing_of_shards_for_a_range_of_whole_shards() -> None:
    args = ["--keeper-url", "http://127.0.0.1:9", "--token", ADMIN_TOKEN, "tokens", "generate"]
    result = CliRunner().invoke(cli, [*args, "--workspace", "w", "--users", "100-300", "--target", "http://t.example"])
    assert result.exit_code == 1
    assert "shards" not in result.stderr


def test_tokens_generate_help_says_ranges_round_to_whole_shards() -> None:
    result = CliRunner().invoke(cli, ["tokens", "generate", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "whole shards of 100 users, e.g. 0-250 mints 300 tokens, users 0-299" in " ".join(result.output.split())
