"""Route dependencies: the caller's principal (authenticated before routing) and the role a route needs."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler import Request

from koipond.composition import get_keeper
from koipond.models.auth import Principal, Role, role_allows
from koipond.services.auth import require_role, require_school

# The resolver context key under which the handler leaves the principal that lambdas.keeper_api.gate
# authenticated before routing.
PRINCIPAL = "principal"


def principal_of(request: Request) -> Principal:
    """The request's principal, as authenticated before routing."""
    found = request.context.get(PRINCIPAL)
    if isinstance(found, Principal):
        return found
    # Only when the resolver is driven without lambda_handler's gate: fail closed all the same.
    return get_keeper().auth.authenticate(request.resolved_event.headers.get("authorization"))


def requires(role: Role, *or_roles: Role) -> Callable[[Request], Principal]:
    """A ``Depends`` callable: the caller's principal, if its role allows ``role`` (or one of ``or_roles``)."""

    def dependency(request: Request) -> Principal:
        principal = principal_of(request)
        if not any(role_allows(principal.role, other) for other in or_roles):
            require_role(principal, role)
        return principal

    dependency.__name__ = "requires_" + "_or_".join(r.value for r in (role, *or_roles))
    return dependency


viewer = requires(Role.VIEWER)
operator = requires(Role.OPERATOR)
admin = requires(Role.ADMIN)
school = requires(Role.SCHOOL)
# Every valid key, people's and Schools' (e.g. "who am I").
any_key = requires(Role.VIEWER, Role.SCHOOL)
# Schools read the behaviors their assignments name; people read them too.
behavior_reader = any_key


def own_school(request: Request) -> Principal:
    """A ``Depends`` callable for ``/schools/<school_id>/…``: a school key acts only as its own School(s)."""
    principal = school(request)
    require_school(principal, str(request.path_parameters["school_id"]))
    return principal
