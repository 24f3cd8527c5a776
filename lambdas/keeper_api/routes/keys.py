"""API keys: admins create (a school key bound to its Schools), list and revoke them; any key may ask who it is."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.keys import CreateKeyRequest, IssuedKeyOut, KeyListOut, KeyOut, WhoAmIOut
from koipond.composition import get_keeper
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import Admin, AnyKey

router = APIGatewayHttpRouter()


@router.get(
    "/whoami",
    summary="The key this request's token belongs to: its name and role",
    responses=documented(),
    tags=["keys"],
)
def whoami(principal: AnyKey) -> WhoAmIOut:
    return WhoAmIOut.of(principal)


@router.post(
    "/keys",
    summary="Create an API key (the token is returned once)",
    responses=documented(ok={201: "Created; the token is in this answer only"}),
    tags=["keys"],
)
def create_key(body: CreateKeyRequest, principal: Admin) -> tuple[IssuedKeyOut, int]:
    issued = get_keeper().auth.create_key(
        body.name, body.role, principal.name, school_id=body.school_id, school_prefix=body.school_prefix
    )
    return IssuedKeyOut(**KeyOut.of(issued.key).model_dump(), token=issued.token), 201


@router.get("/keys", summary="List API keys (never their tokens)", responses=documented(), tags=["keys"])
def list_keys(_: Admin) -> KeyListOut:
    return KeyListOut(keys=[KeyOut.of(k) for k in get_keeper().auth.list_keys()])


@router.delete(
    "/keys/<key_id>", summary="Revoke an API key (idempotent)", responses=documented(404, 409), tags=["keys"]
)
def revoke_key(key_id: Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$")], principal: Admin) -> KeyOut:
    return KeyOut.of(get_keeper().auth.revoke_key(key_id, principal.name, None))
