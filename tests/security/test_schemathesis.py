"""Schemathesis against a real local Keeper (embedded AWS + `koipond keeper` over HTTP): generated requests
for every operation of the OpenAPI document, as an admin so that they get past authentication. No answer
may be a server error, and every status that comes back must be documented for its operation.

Bounded to a few examples per operation (the whole run takes about a minute here); ``KOIPOND_FUZZ_EXAMPLES``
raises it for a longer hunt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import status_code_conformance

from local_pond.pond import LocalPond, PondConfig

EXAMPLES = int(os.environ.get("KOIPOND_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def keeper_pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    state: Path = tmp_path_factory.mktemp("fuzzed-pond")
    with LocalPond(PondConfig(state_dir=state, schools=0)) as pond:
        yield pond


def test_no_server_error_and_every_status_documented(keeper_pond: LocalPond) -> None:
    schema = schemathesis.openapi.from_url(f"{keeper_pond.keeper_url}/openapi.json")
    headers = {"authorization": f"Bearer {keeper_pond.config.admin_token}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40  # the whole API, not an empty document

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def call(case: Case) -> None:
            case.call_and_validate(
                base_url=keeper_pond.keeper_url,
                headers=headers,
                checks=[not_a_server_error, status_code_conformance],
                timeout=30,
            )

        try:
            call()
        except Exception as exc:  # every operation is tried; all failures are reported together
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:600]}"
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
