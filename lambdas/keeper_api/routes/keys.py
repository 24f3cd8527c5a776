"""API keys: admins create, list and revoke them (tokens are shown once); any key may ask who it is."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.composition import get_keeper
from koipond.models.auth import Principal
from lambdas.keeper_api import auth
from lambdas.keeper_api.schemas import CreateKeyRequest, IssuedKeyOut, KeyListOut, KeyOut, WhoAmIOut

router = APIGatewayHttpRouter()


@router.get("/whoami", summary="The key this request's token belongs to: its name and role", tags=["keys"])
def whoami(principal: Annotated[Principal, Depends(auth.any_key)]) -> WhoAmIOut:
    return WhoAmIOut.of(principal)


@router.post("/keys", summary="Create an API key (the token is returned once)", tags=["keys"])
def create_key(
    body: CreateKeyRequest, principal: Annotated[Principal, Depends(auth.admin)]
) -> tuple[IssuedKeyOut, int]:
    issued = get_keeper().auth.create_key(body.name, body.role, principal.name)
    return IssuedKeyOut(**KeyOut.of(issued.key).model_dump(), token=issued.token), 201


@router.get("/keys", summary="List API keys (never their tokens)", tags=["keys"])
def list_keys(_: Annotated[Principal, Depends(auth.admin)]) -> KeyListOut:
    return KeyListOut(keys=[KeyOut.of(k) for k in get_keeper().auth.list_keys()])


@router.delete("/keys/<key_id>", summary="Revoke an API key (idempotent)", tags=["keys"])
def revoke_key(
    key_id: Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$")],
    principal: Annotated[Principal, Depends(auth.admin)],
) -> KeyOut:
    return KeyOut.of(get_keeper().auth.revoke_key(key_id, principal.name, None))
