"""The README's curl flow against a real local pond: plain HTTP, separate processes."""

from __future__ import annotations

import httpx

from local_pond.pond import LocalPond
from tests.e2e.school_probe import wait_for


def test_start_poll_scale_shed_estop_lift_over_http(pond: LocalPond) -> None:
    admin = httpx.Client(base_url=pond.keeper_url, headers={"authorization": f"Bearer {pond.config.admin_token}"})
    key = {"name": "e2e school", "role": "school", "school_id": "flow-school"}
    school_token = admin.post("/v1/keys", json=key).json()["token"]
    school = httpx.Client(base_url=pond.keeper_url, headers={"authorization": f"Bearer {school_token}"})
    body = {"name": "http flow", "target": "http://127.0.0.1:8800", "behavior": "average_user", "workspace": "pond"}
    test = admin.post("/v1/tests", json={**body, "koi": 2000}).json()

    def koi_told(koi: int) -> int:
        """Poll as a School would until told ``koi`` (the allocator runs every second, not in the poll)."""

        def poll() -> int:
            answer = school.post("/v1/schools/flow-school/poll", json={"capacity": 5000}).json()
            return sum(a["koi"] for a in answer["assignments"] if a["test_id"] == test["id"])

        return int(wait_for(f"{koi} koi told", poll, lambda told: told == koi, timeout=15))

    assert koi_told(2000) == 2000
    assert admin.patch(f"/v1/tests/{test['id']}", json={"koi": 3000}).status_code == 200
    assert koi_told(3000) == 3000
    assert admin.patch(f"/v1/tests/{test['id']}", json={"shed_percent": 50}).json()["active_koi"] == 1500
    assert koi_told(1500) == 1500
    assert admin.post("/v1/emergency-stop", json={"reason": "e2e"}).json()["active"] is True
    stopped = school.post("/v1/schools/flow-school/poll", json={"capacity": 5000}).json()
    assert stopped["stop_all"] is True
    assert stopped["assignments"] == []
    assert admin.post("/v1/tests", json={**body, "koi": 1}).status_code == 409
    assert admin.request("DELETE", "/v1/emergency-stop", json={"reason": "e2e over"}).json()["active"] is False
    assert admin.post(f"/v1/tests/{test['id']}/resume", json={}).status_code == 200
    assert koi_told(1500) == 1500
    admin.post(f"/v1/tests/{test['id']}/stop", json={"reason": "e2e done"})


def test_health_and_openapi_need_no_token(pond: LocalPond) -> None:
    assert httpx.get(f"{pond.keeper_url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{pond.keeper_url}/openapi.json").json()["openapi"].startswith("3.1")
    assert httpx.get(f"{pond.keeper_url}/v1/tests").status_code == 401
