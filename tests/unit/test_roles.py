"""Roles and API tokens without I/O: who may do what, and how bearer tokens are parsed and hashed."""

from __future__ import annotations

import hashlib
import re
import secrets
from itertools import product

import pytest
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from koipond.errors import AuthenticationError, PermissionDeniedError
from koipond.ids import new_key_id
from koipond.models.auth import Principal, Role, role_allows
from koipond.services.auth import (
    TOKEN_PREFIX,
    _bearer_token,
    _split_token,
    bootstrap_key_id,
    hash_secret,
    require_role,
)

PEOPLE = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
# bootstrap_key_id runs scrypt (~50 ms by design): a few examples, and no per-example deadline.
SCRYPT_EXAMPLES = hypothesis_settings(max_examples=10, deadline=None)
KEY_ID_PATH_PATTERN = re.compile(r"^[a-z0-9-]{1,64}$")  # DELETE /v1/keys/{key_id}

# held -> what it may do; written out rather than derived so the table itself is the specification.
EXPECTED_ALLOWS = {
    Role.VIEWER: {Role.VIEWER},
    Role.OPERATOR: {Role.VIEWER, Role.OPERATOR},
    Role.ADMIN: {Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.SCHOOL},
    Role.SCHOOL: {Role.SCHOOL},
}

no_underscore = st.text(st.characters(exclude_characters="_"), min_size=1)


# --- role_allows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("held", "needed"), list(product(Role, Role)))
def test_role_allows_matches_the_role_table(held: Role, needed: Role) -> None:
    assert role_allows(held, needed) is (needed in EXPECTED_ALLOWS[held])


def test_people_roles_are_totally_ordered() -> None:
    for a, b in product(PEOPLE, PEOPLE):
        assert role_allows(a, b) or role_allows(b, a)
        assert not (role_allows(a, b) and role_allows(b, a)) or a is b


def test_people_roles_are_reflexive_and_transitive() -> None:
    assert all(role_allows(role, role) for role in Role)
    for a, b, c in product(PEOPLE, PEOPLE, PEOPLE):
        assert not (role_allows(a, b) and role_allows(b, c)) or role_allows(a, c)


def test_people_ordering_is_viewer_then_operator_then_admin() -> None:
    ranked = sorted(PEOPLE, key=lambda role: sum(role_allows(role, other) for other in PEOPLE))
    assert ranked == [Role.VIEWER, Role.OPERATOR, Role.ADMIN]


def test_school_key_may_do_nothing_a_person_does() -> None:
    assert [role for role in PEOPLE if role_allows(Role.SCHOOL, role)] == []


def test_only_schools_and_admins_may_act_as_a_school() -> None:
    assert {role for role in Role if role_allows(role, Role.SCHOOL)} == {Role.SCHOOL, Role.ADMIN}


@pytest.mark.parametrize(("held", "needed"), list(product(Role, Role)))
def test_require_role_raises_exactly_when_the_role_does_not_allow(held: Role, needed: Role) -> None:
    principal = Principal(key_id="key-test", name="tester", role=held)
    if role_allows(held, needed):
        require_role(principal, needed)
    else:
        with pytest.raises(PermissionDeniedError) as caught:
            require_role(principal, needed)
        assert caught.value.details == {"needed": needed.value, "held": held.value}


# --- token parsing -------------------------------------------------------------------------------


def test_issued_token_splits_into_key_id_and_secret() -> None:
    assert _split_token("kp_key-0a1b2c3d4e_f00dfeed") == ("key-0a1b2c3d4e", "f00dfeed")


@given(key_id=st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True), secret=no_underscore)
def test_split_token_round_trips_issued_format(key_id: str, secret: str) -> None:
    assert _split_token(f"{TOKEN_PREFIX}{key_id}_{secret}") == (key_id, secret)


@given(key_id=no_underscore.filter(lambda k: not re.fullmatch(r"[a-z0-9-]{1,64}", k)), secret=no_underscore)
def test_token_with_a_malformed_key_id_is_refused_before_any_lookup(key_id: str, secret: str) -> None:
    with pytest.raises(AuthenticationError):
        _split_token(f"{TOKEN_PREFIX}{key_id}_{secret}")


def test_tokens_made_like_create_key_makes_them_split_back() -> None:
    for _ in range(50):
        key_id, secret = new_key_id(), secrets.token_hex(24)
        assert _split_token(f"{TOKEN_PREFIX}{key_id}_{secret}") == (key_id, secret)


@given(token=st.text(min_size=1))
def test_any_other_token_is_not_an_issued_token(token: str) -> None:
    assume(not (token.startswith(TOKEN_PREFIX) and token.count("_") == 2))
    assert _split_token(token) is None  # only a bootstrap token the Keeper was given can match it


@pytest.mark.parametrize("token", ["kp_key-1_secret_extra", "kp_key-1", "KP_key-1_secret", "key-1_secret"])
def test_near_miss_tokens_are_not_split_as_issued(token: str) -> None:
    assert _split_token(token) is None


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc  ", "abc"), ("  Bearer abc", "abc")],
)
def test_bearer_header_yields_its_token(header: str, token: str) -> None:
    assert _bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "abc"])
def test_missing_or_malformed_bearer_header_is_an_authentication_error(header: str | None) -> None:
    with pytest.raises(AuthenticationError):
        _bearer_token(header)


# --- hashing -------------------------------------------------------------------------------------


@given(secret=st.text())
def test_hash_secret_is_hex_sha256_of_utf8(secret: str) -> None:
    digest = hash_secret(secret)
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


@given(a=st.text(), b=st.text())
def test_different_secrets_hash_differently(a: str, b: str) -> None:
    assume(a != b)
    assert hash_secret(a) != hash_secret(b)


@SCRYPT_EXAMPLES
@given(token=st.text(min_size=1))
def test_bootstrap_key_id_is_stable_and_revocable_by_path(token: str) -> None:
    key_id = bootstrap_key_id(token)
    assert key_id == bootstrap_key_id(token)
    assert re.fullmatch(r"bootstrap-[0-9a-f]{12}", key_id)
    assert KEY_ID_PATH_PATTERN.match(key_id)


@SCRYPT_EXAMPLES
@given(a=st.text(min_size=1), b=st.text(min_size=1))
def test_different_bootstrap_tokens_make_different_keys(a: str, b: str) -> None:
    assume(a != b)
    assert bootstrap_key_id(a) != bootstrap_key_id(b)


def test_bootstrap_key_ids_never_look_like_issued_key_ids() -> None:
    issued = new_key_id()
    assert issued.startswith("key-")
    assert not bootstrap_key_id(issued).startswith("key-")
