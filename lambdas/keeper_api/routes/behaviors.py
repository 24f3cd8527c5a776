"""Behaviors: upload (validated; each upload is a new version) and read; their sources (re-derived on a schedule)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.behavior_sources import BehaviorSource, BehaviorSourceListOut, BehaviorSourceOut
from koipond.api.behaviors import (
    BehaviorDiffOut,
    BehaviorDocument,
    BehaviorListOut,
    BehaviorOut,
    BehaviorVersionListOut,
    BehaviorVersionOut,
)
from koipond.composition import get_keeper
from koipond.models import behavior_source as domain_source
from koipond.models.behavior import BEHAVIOR_NAME_PATTERN
from koipond.models.cursors import MAX_CURSOR_CHARS
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import BehaviorReader, Operator, Viewer

router = APIGatewayHttpRouter()
BehaviorName = Annotated[str, Path(pattern=BEHAVIOR_NAME_PATTERN, description="Behavior name.")]


@router.put(
    "/behaviors/<name>",
    summary="Upload a behavior as its next version",
    responses=documented(ok={201: "Stored as the next version"}),
    tags=["behaviors"],
)
def put_behavior(name: BehaviorName, body: BehaviorDocument, principal: Operator) -> tuple[BehaviorOut, int]:
    stored = get_keeper().behaviors.put(name, body.model_dump(mode="json", exclude_none=True), principal.name)
    return BehaviorOut.of(stored), 201


@router.get(
    "/behaviors/<name>", summary="A behavior: latest, or ?version=N", responses=documented(404), tags=["behaviors"]
)
def get_behavior(
    name: BehaviorName,
    _: BehaviorReader,
    version: Annotated[int | None, Query(ge=1, description="A specific version.")] = None,
) -> BehaviorOut:
    return BehaviorOut.of(get_keeper().behaviors.get(name, version))


@router.get("/behaviors", summary="Latest version of every behavior", responses=documented(), tags=["behaviors"])
def list_behaviors(_: Viewer) -> BehaviorListOut:
    return BehaviorListOut(behaviors=[BehaviorOut.of(b) for b in get_keeper().behaviors.list_latest()])


@router.get(
    "/behaviors/<name>/versions",
    summary="A behavior's versions, newest first, a page at a time",
    responses=documented(404),
    tags=["behaviors"],
)
def list_behavior_versions(
    name: BehaviorName,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=100, description="Most versions in this page.")] = 20,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_CHARS, pattern=r"^[A-Za-z0-9_-]+$", description="next_cursor of the last page."),
    ] = None,
) -> BehaviorVersionListOut:
    versions, next_cursor = get_keeper().behaviors.versions(name, limit=limit, cursor=cursor)
    return BehaviorVersionListOut(
        name=name, versions=[BehaviorVersionOut.of(v) for v in versions], next_cursor=next_cursor
    )


@router.get(
    "/behaviors/<name>/diff",
    summary="What changed between two versions of a behavior",
    responses=documented(404),
    tags=["behaviors"],
)
def diff_behavior_versions(
    name: BehaviorName,
    _: Viewer,
    from_: Annotated[int, Query(alias="from", ge=1, description="The version to compare from (before).")],
    to: Annotated[
        int | None, Query(ge=1, description="The version to compare to (after); the latest if left out.")
    ] = None,
) -> BehaviorDiffOut:
    before, after, found = get_keeper().behaviors.diff(name, from_, to)
    return BehaviorDiffOut.of_versions(before, after, found)


@router.put(
    "/behaviors/<name>/source",
    summary="Set where a behavior's rates come from; the release tick derives it again on its schedule",
    responses=documented(404, 409),
    tags=["behaviors"],
)
def put_behavior_source(name: BehaviorName, body: BehaviorSource, principal: Operator) -> BehaviorSourceOut:
    source = domain_source.BehaviorSource.model_validate(body.model_dump())
    return BehaviorSourceOut.of(get_keeper().behavior_sources.put(name, source, principal.name))


@router.get(
    "/behaviors/<name>/source",
    summary="A behavior's source: when it runs next and what its last run found",
    responses=documented(404),
    tags=["behaviors"],
)
def get_behavior_source(name: BehaviorName, _: Viewer) -> BehaviorSourceOut:
    return BehaviorSourceOut.of(get_keeper().behavior_sources.get(name))


@router.delete(
    "/behaviors/<name>/source",
    summary="Stop deriving a behavior again (its versions stay); answers the source as it was",
    responses=documented(404),
    tags=["behaviors"],
)
def delete_behavior_source(name: BehaviorName, principal: Operator) -> BehaviorSourceOut:
    return BehaviorSourceOut.of(get_keeper().behavior_sources.delete(name, principal.name))


@router.get("/behavior-sources", summary="Every behavior's source, by name", responses=documented(), tags=["behaviors"])
def list_behavior_sources(_: Viewer) -> BehaviorSourceListOut:
    return BehaviorSourceListOut(sources=[BehaviorSourceOut.of(s) for s in get_keeper().behavior_sources.list_all()])
