"""The mint origin allow-list on AWS: a context value, set on the Keeper and the token worker, none by default."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from cdk.app import build_app
from koipond import envvars
from tests.infra.conftest import NO_BUNDLING
from tests.infra.template_queries import function

KEEPER = "lambdas.keeper_api.handler.lambda_handler"
WORKER = "lambdas.token_worker.handler.lambda_handler"
RENEWER = "lambdas.token_worker.handler.schedule_handler"


def _env(props: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = props["Properties"]["Environment"]["Variables"]
    return variables


def test_by_default_no_function_may_send_the_mint_token_anywhere(template: Template) -> None:
    for handler in (KEEPER, WORKER, RENEWER):
        assert envvars.TOKEN_MINT_ORIGINS not in _env(function(template, handler)[1])


def test_the_context_value_reaches_the_keeper_the_worker_and_the_renewal() -> None:
    origins = "https://mint.example.com,https://mint2.example.com:8443"
    app = build_app({**NO_BUNDLING, "koipond:tokenMintOrigins": origins})
    template = Template.from_stack(app.node.find_child("koipond-dev"))  # type: ignore[arg-type]
    for handler in (KEEPER, WORKER, RENEWER):
        assert _env(function(template, handler)[1])[envvars.TOKEN_MINT_ORIGINS] == origins


def test_a_context_value_that_is_not_a_list_of_origins_fails_the_synth() -> None:
    with pytest.raises(ValueError, match="tokenMintOrigins: entry 1 is not an origin"):
        build_app({**NO_BUNDLING, "koipond:tokenMintOrigins": "mint.example.com/mint"})
