"""Two Keeper processes over one table, hammered by concurrent polls while the test is rescaled."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest

from koipond.api.client import KeeperClient
from local_pond.pond import LocalPond
from local_pond.processes import PondProcess, free_port


@pytest.fixture
def second_keeper(pond: LocalPond) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = PondProcess(
        "keeper-2",
        ["keeper", "--port", str(port)],
        pond.keeper.env,
        pond.config.state_dir / "logs" / "keeper-2.log",
        f"{url}/healthz",
    )
    process.start(timeout=60)
    yield url
    process.stop()


def test_concurrent_polls_through_two_keepers_never_double_assign(pond: LocalPond, second_keeper: str) -> None:
    token = pond.config.admin_token
    with pond.client() as admin:
        test = admin.start_test(
            name="races", target="http://127.0.0.1:8800", behavior="average_user", workspace="pond", koi=3000
        )
    errors: list[BaseException] = []

    def school_loop(school_id: str, url: str) -> None:
        try:
            with KeeperClient(url, token) as client:
                for _ in range(12):
                    client.poll(school_id, 1000, {})
        except BaseException as exc:
            errors.append(exc)

    urls = itertools.cycle([pond.keeper_url, second_keeper])
    threads = [threading.Thread(target=school_loop, args=(f"race-{i}", next(urls))) for i in range(6)]
    for thread in threads:
        thread.start()
    with pond.client() as admin:
        for koi in (5000, 1500, 4000):
            admin.update_test(test.id, koi=koi)
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    with pond.client() as admin:
        final = admin.show_test(test.id)
        split = final.koi_per_school
        assert sum(split.values()) <= final.active_koi == 4000
        seen: list[tuple[int, int]] = []
        for school_id in split:
            answer = admin.poll(school_id, 1000, {})
            seen += [(r.start, r.end) for a in answer.assignments for r in a.ranges]
        admin.stop_test(test.id, "races done")
    seen.sort()
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(seen))
