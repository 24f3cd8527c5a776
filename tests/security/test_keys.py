"""API keys (issue 14): the last admin key stays, and the bootstrap key's id gives its token away to no one."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper, injected_keeper
from koipond.errors import ConflictError
from koipond.models.auth import ApiKey, Role
from koipond.services import auth
from koipond.services.auth import (
    BOOTSTRAP_SALT,
    bootstrap_key_id,
    bootstrap_secret_hash,
    hash_secret,
    legacy_bootstrap_key_id,
)
from koipond.settings import Settings
from koipond.store.items import key_from_item, key_pk
from koipond.store.schema import META
from tests.conftest import ADMIN_TOKEN, Api, issue_token

BOOTSTRAP = bootstrap_key_id(ADMIN_TOKEN)


def key_id(token: str) -> str:
    return token.split("_")[1]


# --- the last admin key --------------------------------------------------------------------------


def test_the_last_admin_key_cannot_be_revoked(api: Api) -> None:
    refused = api.delete(f"/v1/keys/{BOOTSTRAP}")
    assert (refused.status, refused.error_code) == (409, "last_admin_key")
    assert "create another admin key first" in refused.body["error"]["message"]
    assert api.get("/v1/whoami").status == 200


def test_an_admin_key_may_go_while_another_stays_then_the_other_may_not(api: Api) -> None:
    alice = api.as_(issue_token(api, "admin", "alice"))
    assert alice.delete(f"/v1/keys/{BOOTSTRAP}").status == 200
    refused = alice.delete(f"/v1/keys/{key_id(alice.token or '')}")
    assert (refused.status, refused.error_code) == (409, "last_admin_key")


def test_revoked_admin_keys_do_not_count_as_the_other_admin(api: Api) -> None:
    bob = issue_token(api, "admin", "bob")
    assert api.delete(f"/v1/keys/{key_id(bob)}").status == 200
    assert api.delete(f"/v1/keys/{BOOTSTRAP}").error_code == "last_admin_key"
    assert api.delete(f"/v1/keys/{key_id(issue_token(api, 'viewer'))}").status == 200  # other roles: no rule


def test_two_admins_revoking_each_other_at_once_leave_one_admin(
    api: Api, keeper: Keeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice_token, bob_token = (issue_token(api, "admin", name) for name in ("alice", "bob"))
    alice, bob = key_id(alice_token), key_id(bob_token)
    assert api.delete(f"/v1/keys/{BOOTSTRAP}").status == 200
    repository = keeper.auth._keys
    table = repository._table
    alice_as_read = table.get(key_pk(alice), META)
    # Bob's revocation of alice commits after alice's revocation of bob read alice's key, before it writes.
    assert api.as_(bob_token).delete(f"/v1/keys/{alice}").status == 200
    real_get = table.get
    monkeypatch.setattr(table, "get", lambda pk, sk: alice_as_read if pk == key_pk(alice) else real_get(pk, sk))
    monkeypatch.setattr(repository, "list_all", lambda: [repository.get(bob), key_from_item(alice_as_read)])
    with pytest.raises(ConflictError, match="changed meanwhile"):
        keeper.auth.revoke_key(bob, "alice", None)
    monkeypatch.undo()
    assert not repository.get(bob).revoked


# --- the bootstrap key ---------------------------------------------------------------------------


def test_the_bootstrap_key_id_and_hash_come_from_scrypt_not_a_fast_hash(api: Api) -> None:
    digest = hashlib.scrypt(ADMIN_TOKEN.encode(), salt=BOOTSTRAP_SALT, n=2**14, r=8, p=1, dklen=32)
    assert f"bootstrap-{digest[:6].hex()}" == BOOTSTRAP
    assert bootstrap_secret_hash(ADMIN_TOKEN) == digest.hex()
    sha = hash_secret(ADMIN_TOKEN)
    listed = api.get("/v1/keys").body["keys"]
    assert [k["id"] for k in listed] == [BOOTSTRAP]
    assert sha[:12] not in BOOTSTRAP


def test_a_token_no_key_was_issued_for_is_refused_without_running_scrypt(api: Api) -> None:
    misses = auth._bootstrap_digest.cache_info().misses
    for guess in ("password", "admin", "hunter2", "not-the-admin-token"):
        assert api.as_(guess).get("/v1/whoami").error_code == "unauthenticated"
    assert auth._bootstrap_digest.cache_info().misses == misses


def legacy_key(token: str, clock: FixedClock, **changes: Any) -> ApiKey:
    """The bootstrap key an older koipond stored: its id and hash fast SHA-256s of the token."""
    return ApiKey(
        id=legacy_bootstrap_key_id(token),
        name="bootstrap admin",
        role=Role.ADMIN,
        secret_hash=hash_secret(token),
        created_at=clock.now() - timedelta(days=30),
        created_by="bootstrap",
        **changes,
    )


@pytest.mark.parametrize("revoked", [True, False], ids=["revoked-before", "active-before"])
def test_an_upgrade_moves_the_bootstrap_key_to_its_new_id_keeping_its_revocation(
    keeper: Keeper, settings: Settings, dynamodb: Any, clock: FixedClock, revoked: bool
) -> None:
    token = "a-token-from-before"
    at = clock.now()
    changes = {"revoked_at": at, "revoked_by": "alice"} if revoked else {}
    keeper.auth._keys.create(legacy_key(token, clock, **changes), None)
    upgraded = build_keeper(settings.model_copy(update={"admin_token": SecretStr(token)}), dynamodb, clock)
    assert keeper.auth._keys.find(legacy_bootstrap_key_id(token)) is None
    moved = keeper.auth._keys.get(bootstrap_key_id(token))
    assert (moved.revoked_at, moved.revoked_by) == ((at, "alice") if revoked else (None, None))
    with injected_keeper(upgraded):
        response = Api(token).get("/v1/whoami")
    assert response.status == (401 if revoked else 200)


def test_a_revoked_bootstrap_key_stays_revoked_through_every_cold_start(
    api: Api, settings: Settings, dynamodb: Any, clock: FixedClock
) -> None:
    alice = api.as_(issue_token(api, "admin", "alice"))
    assert alice.delete(f"/v1/keys/{BOOTSTRAP}").status == 200
    for _ in range(2):
        build_keeper(settings, dynamodb, clock)
    assert api.get("/v1/whoami").error_code == "unauthenticated"
    assert ADMIN_TOKEN not in str(api.get("/v1/keys").body)
