"""Notifications: what koipond told Slack (or tried to), newest first; routes by name, never their URLs."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.notifications import NotificationListOut, NotificationOut
from koipond.composition import get_keeper
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import NotificationStatus
from koipond.notifications.service import MAX_PAGE
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import Viewer

router = APIGatewayHttpRouter()


@router.get(
    "/notifications",
    summary="Notifications and their delivery, newest first",
    responses=documented(),
    tags=["notifications"],
)
def list_notifications(
    _: Viewer,
    kind: Annotated[NotificationKind | None, Query(description="Only this kind.")] = None,
    status: Annotated[NotificationStatus | None, Query(description="Only this delivery status.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many.")] = 50,
) -> NotificationListOut:
    found = get_keeper().notifications.list_notifications(kind, status, limit)
    return NotificationListOut(notifications=[NotificationOut.of(n) for n in found])
