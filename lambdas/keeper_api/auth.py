"""Route dependencies that authenticate the bearer token and check the role a route needs."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler import Request

from koipond.composition import get_keeper
from koipond.models.auth import Principal, Role
from koipond.services.auth import require_role


def requires(role: Role) -> Callable[[Request], Principal]:
    """A ``Depends`` callable: the caller's principal, if its role allows ``role``."""

    def dependency(request: Request) -> Principal:
        header = request.resolved_event.headers.get("authorization")
        principal = get_keeper().auth.authenticate(header)
        require_role(principal, role)
        return principal

    dependency.__name__ = f"requires_{role.value}"
    return dependency


viewer = requires(Role.VIEWER)
operator = requires(Role.OPERATOR)
admin = requires(Role.ADMIN)
school = requires(Role.SCHOOL)
