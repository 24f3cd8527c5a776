"""A rollout on a whole local pond: real Prometheus, a School, the guard and the release tick as processes.

It advances through short stages while the guard is healthy, then pauses when the target starts failing and
the guard trips; every transition is in the rollout's history and posted exactly one notification.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from koipond.composition import Keeper
from koipond.models.guard import Comparator, GuardQuery
from koipond.notifications.kinds import NotificationKind
from local_pond.pond import LocalPond
from tests.e2e.conftest import watched_pond
from tests.e2e.school_probe import wait_for
from tests.e2e.test_guard import guard, start  # noqa: F401 (guard is a fixture: the guard's queries, cleaned)

LABEL = "e2e-rollout-success-rate"
STAGES = [{"koi": 20, "hold": "5s"}, {"koi": 30, "hold": "5s"}, {"koi": 40, "hold": "10m"}]


@pytest.fixture(scope="module")
def guarded_pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    """The pond ``guard`` (from test_guard) works on, here with the guard and the release tick running."""
    with watched_pond(tmp_path_factory.mktemp("rollout-pond"), guard_every_seconds=1.0, tick_every_seconds=1.0) as pond:
        yield pond


def only_our_query(keeper: Keeper) -> None:
    """The guard process may seed its shipped defaults while the fixture deletes them; keep just ours."""
    keeper.guard.put_query(
        GuardQuery(
            label=LABEL,
            query=(
                "1 - (sum(rate(koi_pond_school_web_api_call_failures_total[5s])) or vector(0))"
                " / sum(rate(koi_pond_school_web_api_calls_total[5s]))"
            ),
            time_range="10s",
            step="1s",
            threshold=0.95,
            comparator=Comparator.LESS_THAN,
        ),
        "e2e",
    )
    for query in keeper.guard.status().queries:
        if query.label != LABEL:
            keeper.guard.delete_query(query.label, "e2e")


def last_outcome(pond: LocalPond) -> str | None:
    with pond.client() as admin:
        queries = {q["query"]["label"]: q["last"] for q in admin.request("GET", "/v1/guard")["queries"]}
    last = queries.get(LABEL)
    return None if last is None else str(last["outcome"])


def rollout_notifications(keeper: Keeper) -> list[Any]:
    # The pond's tick may not have expanded the last transition's intent yet; expanding here too is safe (once each).
    keeper.notifications.intents.expand_pending()
    kinds = [k for k in NotificationKind if k.value.startswith("rollout_")]
    return [n for kind in kinds for n in keeper.notifications.list_notifications(kind=kind, limit=200)]


def test_a_rollout_advances_through_short_stages_then_pauses_on_an_injected_breach(
    guarded_pond: LocalPond,
    guard: Keeper,  # noqa: F811 (the fixture imported above)
) -> None:
    only_our_query(guard)
    test_id = start(guarded_pond, koi=10)
    wait_for("a healthy guard evaluation", lambda: last_outcome(guarded_pond), lambda o: o == "healthy", timeout=60)
    with guarded_pond.client() as admin:
        rollout_id = admin.start_rollout(test_id, STAGES, "e2e ramp").id
        shown = wait_for(
            "the last stage with its koi swimming",
            lambda: (admin.show_rollout(rollout_id), admin.show_test(test_id)),
            lambda both: both[0].current_stage == 3 and both[1].assigned_koi == 40,
            timeout=60,
        )[0]
        assert shown.status == "holding", shown
        guarded_pond.target_faults("PUT", {"route": "*", "error_rate": 1.0, "status": 500})
        paused = wait_for(
            "the rollout to pause",
            lambda: admin.show_rollout(rollout_id),
            lambda r: r.status != "holding",
            timeout=60,
        )
    assert paused.status == "paused", paused
    assert paused.current_stage == 3
    assert paused.paused_reason.startswith(f"guard tripped: guard {LABEL}: "), paused.paused_reason
    kinds = [t.kind for t in paused.transitions]
    assert kinds == ["rollout_started", "rollout_advanced", "rollout_advanced", "rollout_paused"]
    assert all(t.reason for t in paused.transitions)
    scaled = [e.details["koi"] for e in guard.tests.events(test_id) if e.kind == "test_scaled"]
    assert scaled == [[10, 20], [20, 30], [30, 40]], "stages skipped, repeated, or scaled past the plan"
    per_transition = Counter(n.fields["transition"] for n in rollout_notifications(guard))
    assert per_transition == Counter({t.id: 1 for t in paused.transitions})
