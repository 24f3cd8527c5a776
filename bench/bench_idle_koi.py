"""RSS per connected idle koi (School) against RSS per k6 VU holding one websocket, same bundled target.

The bundled target (``koipond target``) runs on core 1; each client on core 0. Both sides are measured
the same way: RSS with one connection held, then with N held; ``(RSS(N) - RSS(1)) / (N - 1)`` is the
cost of one more connected client.

* School: real ``Koi`` objects (``LoadTestContext``, ``NativeWebApi``, ``SchoolMetrics``) of a generated
  behavior whose only action has rate 0: each koi joins its channel, then holds its websocket idle.
  Each websocket is its own connection (the School's client, not pooled); HTTP calls share 64.
* k6: N VUs, each holding one ``k6/ws`` websocket with a token minted by the target's admin endpoint.

``BENCH_QUICK=1``: N = 300. Otherwise N = 5,000 (``BENCH_IDLE_KOI`` overrides).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    CLIENT_CORE,
    Target,
    bundled_target,
    note,
    pinned,
    print_table,
    quick,
    raise_open_files,
    require,
    rss_bytes,
    stop_process,
    verdict,
)
from harness import print_result, run_bench, run_worker

from koipond import metric_names as mn

WORKSPACE = "bench"
TARGET_BYTES_PER_KOI = 20 * 1024
SETTLE_SECONDS = 3.0


def connect_spread(n: int) -> float:
    """Start-up window: ~500 new connections a second keeps the single-core target's accept queue short."""
    return max(1.0, n / 500)


# --- the School's side (a worker process pinned to core 0) -------------------------------------------


async def _idle_koi_worker(target_url: str, secret: str, n: int) -> dict[str, object]:
    from koipond.models.behavior import BehaviorDocument
    from school_container.koi import Koi, LoadTestContext
    from school_container.metrics import SchoolMetrics
    from school_container.web_api import NativeWebApi
    from slacklike_target.tokens import TokenAuthority

    behavior = BehaviorDocument.model_validate(
        {
            "description": "bench: idle koi holding a websocket",
            "actions": {"auth_test": {"method": "POST", "path": "/api/auth.test", "rate_per_hour": 0}},
            "channels": {"count_per_koi": 0},
        }
    )
    metrics = SchoolMetrics()
    web_api = NativeWebApi(64)
    authority = TokenAuthority(secret)
    ctx = LoadTestContext("bench-idle", WORKSPACE, target_url, behavior, web_api, metrics, connect_spread(n))

    def connected() -> int:
        return int(metrics.registry.get_sample_value(mn.SCHOOL_WEBSOCKET_CONNECTIONS) or 0)

    async def wait_connected(want: int, within_seconds: float) -> int:
        for _ in range(int(within_seconds * 5)):
            if connected() >= want:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(SETTLE_SECONDS)
        gc.collect()
        return connected()

    at_once = LoadTestContext("bench-idle", WORKSPACE, target_url, behavior, web_api, metrics, 0.0)
    tasks = [asyncio.create_task(Koi(at_once, 0, authority.mint(WORKSPACE, 0)).swim())]
    one = await wait_connected(1, 30)
    rss_one = rss_bytes()
    tasks += [asyncio.create_task(Koi(ctx, i, authority.mint(WORKSPACE, i)).swim()) for i in range(1, n)]
    held = await wait_connected(n, connect_spread(n) + 60)
    rss_all = rss_bytes()
    failures = metrics.registry.get_sample_value(mn.SCHOOL_WEBSOCKET_CONNECT_FAILURES_TOTAL) or 0
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=30)
    await web_api.close()
    return {"one": one, "held": held, "rss_one": rss_one, "rss_all": rss_all, "failures": int(failures)}


def worker_main(argv: list[str]) -> None:
    import uvloop

    raise_open_files()
    print_result(uvloop.run(_idle_koi_worker(argv[0], argv[1], int(argv[2]))))


def measure_school(target: Target, n: int) -> dict[str, object]:
    return run_worker(Path(__file__), [target.url, target.secret, str(n)], timeout=connect_spread(n) + 180)


# --- k6 --------------------------------------------------------------------------------------------------


K6_SCRIPT = """\
import ws from 'k6/ws';
import { SharedArray } from 'k6/data';

const tokens = new SharedArray('tokens', function () { return JSON.parse(open(__ENV.TOKENS)); });

export const options = {
  scenarios: {
    idle: { executor: 'per-vu-iterations', vus: Number(__ENV.VUS), iterations: 1, maxDuration: '15m' },
  },
};

export default function () {
  const params = { headers: { Authorization: 'Bearer ' + tokens[__VU - 1] } };
  ws.connect(__ENV.WS_URL, params, function (socket) {
    socket.setTimeout(function () { socket.close(); }, 600000);
  });
}
"""


def k6_rss(target: Target, vus: int, tokens_file: Path, script: Path) -> tuple[int, int]:
    """Start k6 with ``vus`` VUs, wait until the target holds that many websockets; return (held, k6 RSS)."""
    argv = [require("k6"), "run", "--quiet", "--no-usage-report", "--no-thresholds", "--no-summary"]
    argv += ["-e", f"VUS={vus}", "-e", f"TOKENS={tokens_file}", "-e", f"WS_URL=ws://127.0.0.1:{target.port}/ws"]
    env = {**os.environ, "GOMAXPROCS": "1", "K6_NO_USAGE_REPORT": "true"}
    proc = subprocess.Popen(
        pinned(CLIENT_CORE, [*argv, str(script)]), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + connect_spread(vus) + 120
        held = 0
        while time.monotonic() < deadline and proc.poll() is None:
            held = target.websocket_connections()
            if held >= vus:
                break
            time.sleep(0.5)
        if proc.poll() is not None:
            stderr = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"k6 exited early ({proc.returncode}): {stderr[-2000:]}")
        time.sleep(SETTLE_SECONDS)
        return target.websocket_connections(), rss_bytes(proc.pid)
    finally:
        stop_process(proc, signal.SIGINT, 30)
        target.wait_for_websockets(0, 60, at_least=False)


def measure_k6(target: Target, n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-k6ws-") as tmp:
        tokens_file, script = Path(tmp) / "tokens.json", Path(tmp) / "idle_ws.js"
        tokens_file.write_text(json.dumps(target.mint(WORKSPACE, n)))
        script.write_text(K6_SCRIPT)
        one, rss_one = k6_rss(target, 1, tokens_file, script)
        held, rss_all = k6_rss(target, n, tokens_file, script)
    return {"one": one, "held": held, "rss_one": rss_one, "rss_all": rss_all, "failures": max(0, n - held)}


# --- report ----------------------------------------------------------------------------------------------


def per_client(result: dict[str, object]) -> float | None:
    held, rss_one, rss_all = (int(str(result[k])) for k in ("held", "rss_one", "rss_all"))
    return (rss_all - rss_one) / (held - 1) if held > 1 else None


def main() -> int:
    n = 300 if quick() else int(os.environ.get("BENCH_IDLE_KOI", "5000"))
    raise_open_files()
    results: dict[str, dict[str, object]] = {}
    failed = False
    with bundled_target() as target:
        for name, measure in (("School koi (idle)", measure_school), ("k6 VU (k6/ws)", measure_k6)):
            try:
                results[name] = measure(target, n)
            except (subprocess.SubprocessError, RuntimeError, OSError) as exc:
                print(f"bench: {name} failed to run: {exc}", file=sys.stderr)
                failed = True
            target.wait_for_websockets(0, 60, at_least=False)
    rows = []
    school = per_client(results["School koi (idle)"]) if "School koi (idle)" in results else None
    for name, r in results.items():
        cost = per_client(r)
        ratio = f"{cost / school:.2f}x" if cost and school else None
        mib_one, mib_all = int(str(r["rss_one"])) / 2**20, int(str(r["rss_all"])) / 2**20
        rows.append((name, n, r["held"], r["failures"], mib_one, mib_all, cost / 1024 if cost else None, ratio))
    headers = ("client (core 0)", "wanted", "connected", "failed", "RSS@1 MiB", "RSS@N MiB", "KiB each", "vs School")
    print_table(f"RSS per connected idle client, N = {n:,}, bundled target on core 1", headers, rows)
    if school is not None:
        verdict(school <= TARGET_BYTES_PER_KOI, "<= 20 KB RSS per connected idle koi", f"{school / 1024:.1f} KiB")
    note("each koi also joined its channel (one Web API call) before going idle; k6 VUs only hold the socket.")
    return 1 if failed else 0


if __name__ == "__main__":
    run_bench(__doc__, main, worker_main)
