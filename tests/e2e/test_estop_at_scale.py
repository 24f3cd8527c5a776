"""The emergency stop with 100 running tests on a real local pond: every polling School is told
``stop_all`` within one poll interval plus a second, no School's poll fails on the way, and every test
ends stopped with its history event."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from local_pond.pond import LocalPond, PondConfig
from tests.e2e.school_probe import wait_for

TESTS = 100
# One local Keeper process answers one request at a time (about 0.1 s a poll on the embedded AWS): 10
# Schools every 2 s keep it busy but not saturated.
SCHOOLS = 10
INTERVAL = 2.0


async def _school(client: httpx.AsyncClient, school_id: str, told: dict[str, float], errors: list[str]) -> None:
    """Poll like a School until told to stop everything; remember when."""
    while school_id not in told:
        answer = await client.post(f"/v1/schools/{school_id}/poll", json={"capacity": 5000})
        if answer.status_code != 200:
            errors.append(f"{school_id}: {answer.status_code} {answer.text[:200]}")
        elif answer.json()["stop_all"]:
            told[school_id] = time.monotonic()
            return
        await asyncio.sleep(INTERVAL)


async def _pond_of_schools(pond: LocalPond, school_token: str) -> tuple[float, dict[str, float], list[str]]:
    told: dict[str, float] = {}
    errors: list[str] = []
    schools = httpx.AsyncClient(base_url=pond.keeper_url, headers=_bearer(school_token), timeout=10)
    admin = httpx.AsyncClient(base_url=pond.keeper_url, headers=_bearer(pond.config.admin_token), timeout=10)
    async with schools, admin:
        polling = [asyncio.create_task(_school(schools, f"school-{n:02d}", told, errors)) for n in range(SCHOOLS)]
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:  # every test's koi handed out before the stop
                tests = (await admin.get("/v1/tests", params={"status": "running"})).json()["tests"]
                if len(tests) == TESTS and all(t["assigned_koi"] == t["active_koi"] for t in tests):
                    break
                await asyncio.sleep(1)
            else:
                raise AssertionError("the 100 tests' koi were not all handed out within 90 s")
            pulled = time.monotonic()
            assert (await admin.post("/v1/emergency-stop", json={"reason": "drill at scale"})).status_code == 200
            await asyncio.wait_for(asyncio.gather(*polling), timeout=30)
        finally:
            for task in polling:
                task.cancel()
    return pulled, told, errors


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_the_emergency_stop_reaches_every_school_with_100_running_tests(tmp_path: Path) -> None:
    with LocalPond(PondConfig(state_dir=tmp_path, poll_interval_seconds=INTERVAL)) as pond:
        with httpx.Client(base_url=pond.keeper_url, headers=_bearer(pond.config.admin_token), timeout=10) as admin:
            key = {"name": "simulated schools", "role": "school", "school_prefix": "school-"}
            token = admin.post("/v1/keys", json=key).json()["token"]
            for n in range(TESTS):
                body = {"name": f"t{n}", "target": pond.target_url, "behavior": "average_user", "workspace": "w"}
                assert admin.post("/v1/tests", json={**body, "koi": 350}).status_code == 201
        pulled, told, errors = asyncio.run(_pond_of_schools(pond, token))
        with httpx.Client(base_url=pond.keeper_url, headers=_bearer(pond.config.admin_token), timeout=10) as admin:
            # The request stops what it can in half a second; the allocator stops the rest, a slice a pass.
            wait_for(
                "every test stopped",
                lambda: admin.get("/v1/tests", params={"status": "running"}).json()["tests"],
                lambda running: running == [],
                timeout=60,
            )
            some = admin.get("/v1/tests").json()["tests"][-1]
            events = admin.get(f"/v1/tests/{some['id']}/events").json()["events"]
            assert events[-1]["kind"] == "test_stopped"
            assert events[-1]["reason"] == "emergency stop: drill at scale"
    assert errors == []
    assert len(told) == SCHOOLS
    slowest = max(told.values()) - pulled
    assert slowest <= INTERVAL + 1.0, f"the last School heard the stop {slowest:.2f} s after it was pulled"
