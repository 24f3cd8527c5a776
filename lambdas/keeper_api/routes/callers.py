"""Who may call a route, as parameter types: ``def route(_: Viewer)`` admits a key that may view."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from koipond.models.auth import Principal
from lambdas.keeper_api import auth

AnyKey = Annotated[Principal, Depends(auth.any_key)]
Viewer = Annotated[Principal, Depends(auth.viewer)]
BehaviorReader = Annotated[Principal, Depends(auth.behavior_reader)]
Operator = Annotated[Principal, Depends(auth.operator)]
Admin = Annotated[Principal, Depends(auth.admin)]
OwnSchool = Annotated[Principal, Depends(auth.own_school)]
