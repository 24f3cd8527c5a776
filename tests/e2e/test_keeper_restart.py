"""Killing the Keeper process mid-test loses nothing: all state is in the embedded AWS."""

from __future__ import annotations

from local_pond.pond import LocalPond


def test_killed_keeper_restarts_with_every_test_assignment_and_event(pond: LocalPond) -> None:
    with pond.client() as admin:
        test = admin.start_test(
            name="restart", target="http://127.0.0.1:8800", behavior="average_user", workspace="pond", koi=1200
        )
        admin.poll("restart-a", 5000, {})
        admin.poll("restart-b", 5000, {})
        admin.poll("restart-a", 5000, {})
        admin.update_test(test.id, shed_percent=25, reason="before the crash")
        admin.estop_on("crash drill")
        admin.estop_off("crash drill over")
        before = (admin.list_tests(), admin.test_events(test.id), admin.estop_status(), admin.list_keys())
    pond.restart_keeper(crash=True)
    with pond.client() as admin:
        after = (admin.list_tests(), admin.test_events(test.id), admin.estop_status(), admin.list_keys())
    assert after == before
    assert [e.kind for e in after[1]][-1] == "test_stopped"
