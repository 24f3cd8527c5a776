"""``koipond demo``: the main job on a fresh local pond, narrated, checked at every step.

Schools are simulated by their polls here (the School process arrives with the School issue): the
point is the Keeper's side: allocation, scaling, partial shutdown, a dead School, a Keeper restart
and the emergency stop, all on the same code that runs on AWS.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from koipond.client.keeper import KeeperApiError, KeeperClient
from koipond.pond.pond import LocalPond, PondConfig

console = Console(highlight=False)
POLL_INTERVAL = 1.0  # seconds; short so that a dead School is noticed within the demo
SCHOOLS = ("school-a", "school-b", "school-c")
CAPACITY = 1500
TARGET = "http://127.0.0.1:8800"


class DemoFailedError(Exception):
    """A step did not do what it should; the demo exits non-zero."""


def run_demo(state_dir: Path) -> None:
    """Start a pond, drive a test through its life with simulated Schools, restart the Keeper, stop.

    Raises:
        DemoFailedError: a step's outcome was not the expected one.
    """
    started = time.monotonic()
    pond = LocalPond(PondConfig(state_dir=state_dir, poll_interval_seconds=POLL_INTERVAL))
    with console.status("starting a local pond (embedded AWS + Keeper)..."):
        pond.__enter__()
    try:
        console.print(f"[bold]local pond up[/]: Keeper {pond.keeper_url}, embedded AWS {pond.aws_url}")
        with pond.client() as admin:
            school_token = admin.create_key("demo schools", "school")["token"]
            with KeeperClient(pond.keeper_url, school_token) as schools:
                _drive(pond, admin, schools)
    finally:
        pond.stop()
    console.print(f"[bold green]demo passed in {time.monotonic() - started:.0f}s[/]; the pond is stopped")


def _drive(pond: LocalPond, admin: KeeperClient, schools: KeeperClient) -> None:
    _step("1. start a continuous test of 2,000 koi (average_user behavior)")
    test = admin.start_test(
        name="demo average users", target=TARGET, behavior="average_user", workspace="pond", koi=2000
    )
    test_id = test["id"]
    split = _poll_rounds(schools, SCHOOLS, rounds=2)
    _expect(sum(k.get(test_id, 0) for k in split.values()) == 2000, "all 2,000 koi assigned")
    _show_split(split, test_id)

    _step("2. scale to 3,000 koi")
    admin.update_test(test_id, koi=3000, reason="demo: ramp up")
    split = _poll_rounds(schools, SCHOOLS, rounds=2)
    _expect(_total(split, test_id) == 3000, "3,000 koi assigned")
    _show_split(split, test_id)

    _step("3. partial shutdown: shed 50%")
    admin.update_test(test_id, shed_percent=50, reason="demo: shed half")
    split = _poll_rounds(schools, SCHOOLS, rounds=1)
    _expect(_total(split, test_id) == 1500, "1,500 koi left running")
    _show_split(split, test_id)

    _step(f"4. {SCHOOLS[2]} dies (stops polling); after 3 missed polls its koi move")
    deadline = time.monotonic() + POLL_INTERVAL * 3.5
    while time.monotonic() < deadline:  # the live Schools keep polling meanwhile
        split = _poll_rounds(schools, SCHOOLS[:2], rounds=1)
        time.sleep(POLL_INTERVAL)
    split = _poll_rounds(schools, SCHOOLS[:2], rounds=2)
    _expect(
        _total(split, test_id) == 1500 and SCHOOLS[2] not in admin.show_test(test_id)["koi_per_school"],
        "koi moved off the dead School",
    )
    _show_split(split, test_id)

    _step("5. kill the Keeper process and start it again: nothing is lost")
    before = (admin.show_test(test_id), admin.test_events(test_id))
    pond.restart_keeper(crash=True)
    after = (admin.show_test(test_id), admin.test_events(test_id))
    _expect(before == after, "test, assignments and history identical after the restart")
    console.print(
        f"  test version {after[0]['version']}, {len(after[1])} history events, "
        f"split {after[0]['koi_per_school']}: unchanged"
    )

    _step("6. pull the emergency stop")
    admin.estop_on("demo: the service under test is on fire")
    answer = schools.poll(SCHOOLS[0], CAPACITY, {})
    _expect(answer["stop_all"] and not answer["assignments"], "Schools told to stop all koi")
    _expect(admin.show_test(test_id)["status"] == "stopped", "the test is stopped")
    try:
        admin.start_test(name="during estop", target=TARGET, behavior="average_user", workspace="pond", koi=10)
        raise DemoFailedError("a test started while the emergency stop was active")
    except KeeperApiError as exc:
        _expect(exc.status == 409, "new tests refused with 409")
        console.print(f"  new test refused: {exc.message}")

    _step("7. lift the emergency stop; resuming is a deliberate act")
    admin.estop_off("demo: all clear")
    admin.resume_test(test_id, "demo: resume after the all-clear")
    split = _poll_rounds(schools, SCHOOLS[:2], rounds=2)
    _expect(_total(split, test_id) == 1500, "1,500 koi running again")
    _show_split(split, test_id)
    _show_history(admin.test_events(test_id), admin.estop_status()["history"])


def _poll_rounds(schools: KeeperClient, ids: tuple[str, ...], rounds: int) -> dict[str, dict[str, int]]:
    """Each School polls ``rounds`` times, reporting what it was told last time; returns the last answers."""
    running: dict[str, dict[str, int]] = {school: {} for school in ids}
    for _ in range(rounds):
        for school in ids:
            answer = schools.poll(school, CAPACITY, running[school])
            running[school] = {a["test_id"]: a["koi"] for a in answer["assignments"]}
    return running


def _total(split: dict[str, dict[str, int]], test_id: str) -> int:
    return sum(koi.get(test_id, 0) for koi in split.values())


def _step(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailedError(f"expected: {what}")
    console.print(f"  [green]ok[/] {what}")


def _show_split(split: dict[str, dict[str, int]], test_id: str) -> None:
    table = Table("School", "koi", "share")
    total = max(1, _total(split, test_id))
    for school, koi in sorted(split.items()):
        count = koi.get(test_id, 0)
        table.add_row(school, f"{count:,}", "#" * round(30 * count / total))
    console.print(table)


def _show_history(events: list[dict[str, Any]], estop_events: list[dict[str, Any]]) -> None:
    table = Table("when", "subject", "event", "by", "why", title="history")
    for e in sorted(events + estop_events, key=lambda e: e["at"]):
        table.add_row(e["at"][11:19], e["subject"], e["kind"], e["actor"], e["reason"] or "")
    console.print(table)
