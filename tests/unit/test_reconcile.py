"""Reconciliation: exactly the desired koi run afterwards, and koi that may keep running are untouched."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from school_container.reconcile import Desired, plan_changes

TESTS = st.sampled_from(["t1", "t2", "t3"])
INDEXES = st.frozensets(st.integers(0, 60), max_size=40)
IDENTITIES = st.sampled_from([("b", "1", "http://x", "w"), ("b", "2", "http://x", "w")])

running_st = st.dictionaries(TESTS, INDEXES.filter(bool))
identity_st = st.dictionaries(TESTS, IDENTITIES)
desired_st = st.dictionaries(TESTS, st.tuples(INDEXES, IDENTITIES))


def as_desired(raw: dict[str, tuple[frozenset[int], tuple[str, ...]]]) -> dict[str, Desired]:
    return {t: Desired(t, indexes, identity) for t, (indexes, identity) in raw.items()}


@given(running_st, identity_st, desired_st)
def test_after_the_plan_exactly_the_desired_koi_run(running, identities, raw) -> None:  # type: ignore[no-untyped-def]
    desired = as_desired(raw)
    plan = plan_changes(running, identities, desired)
    after = {t: set(ix) - plan.stop.get(t, frozenset()) for t, ix in running.items()}
    for t, ix in plan.start.items():
        assert not (after.setdefault(t, set()) & ix), "a koi started twice"
        after[t] |= ix
    assert {t: ix for t, ix in after.items() if ix} == {t: set(d.indexes) for t, d in desired.items() if d.indexes}


@given(running_st, identity_st, desired_st)
def test_koi_that_may_keep_running_are_never_stopped(running, identities, raw) -> None:  # type: ignore[no-untyped-def]
    desired = as_desired(raw)
    plan = plan_changes(running, identities, desired)
    for test_id, stopped in plan.stop.items():
        want = desired.get(test_id)
        if want is not None and want.identity == identities.get(test_id):
            assert not (stopped & want.indexes)


def test_shedding_half_stops_only_the_shed_half() -> None:
    identity = ("b", "1", "http://x", "w")
    plan = plan_changes(
        {"t": frozenset(range(10))}, {"t": identity}, {"t": Desired("t", frozenset(range(5)), identity)}
    )
    assert plan.stop == {"t": frozenset(range(5, 10))}
    assert plan.start == {}


def test_new_behavior_version_restarts_every_koi_of_the_test() -> None:
    old, new = ("b", "1", "http://x", "w"), ("b", "2", "http://x", "w")
    plan = plan_changes({"t": frozenset(range(3))}, {"t": old}, {"t": Desired("t", frozenset(range(3)), new)})
    assert plan.stop == {"t": frozenset(range(3))}
    assert plan.start == {"t": frozenset(range(3))}
