"""The chaos soak, short: two minutes of kills, target faults and operations on a whole local pond."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from local_pond.drills.schedule import FAULT_KINDS, OPERATION_KINDS
from local_pond.drills.soak import ALL_CHECKS

REPO = Path(__file__).resolve().parents[2]
SEED = 20261205  # a fixed schedule: a failure here reproduces with `make soak SOAK_SEED=20261205 SOAK_MINUTES=2`


def test_a_two_minute_soak_injects_every_fault_and_keeps_every_invariant(tmp_path: Path) -> None:
    report = tmp_path / "soak.json"
    command = [sys.executable, "-m", "local_pond.drills.soak", "--minutes", "2", "--seed", str(SEED),
               "--report", str(report), "--state-dir", str(tmp_path / "pond")]  # fmt: skip
    # The drill bounds itself (its minutes, then a hard deadline); this timeout only guards against a hang.
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=420, check=False)
    (tmp_path / "soak.log").write_text(result.stdout + result.stderr)  # with the pond's logs in pond/logs
    assert report.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(report.read_text())
    assert summary["violations"] == [], f"{tmp_path}/soak.log:\n{result.stdout[-6000:]}"
    assert result.returncode == 0, result.stderr[-3000:]
    # It cannot pass by doing nothing: every fault and every operation happened, every check ran.
    not_injected = {kind for kind in FAULT_KINDS if not summary["faults"].get(kind)}
    assert not not_injected, summary["skipped_faults"]
    assert not {kind for kind in OPERATION_KINDS if not summary["operations"].get(kind)}, summary["operations"]
    assert not {kind for kind in ALL_CHECKS if not summary["checks"].get(kind)}, summary["checks"]
    assert summary["worst_stop_latency_seconds"] <= summary["settings"]["estop_bound_seconds"]
