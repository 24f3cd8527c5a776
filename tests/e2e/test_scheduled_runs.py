"""`koipond guard` and `koipond tick` outlive a failed run: the table unreachable for a while must not end
the schedule (the soak found both exiting for good when the embedded AWS restarted)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local_pond.processes import free_port


@pytest.mark.parametrize("command", ["guard", "tick"])
def test_a_scheduled_component_keeps_running_when_its_runs_fail(command: str, tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # the table's endpoint, refusing every connection
    env = {
        **os.environ,
        "KOIPOND_AWS_ENDPOINT": nobody,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # As in the pond: each run first makes sure the bootstrap admin key exists, which reads the table.
        "KOIPOND_ADMIN_TOKEN": "kp_scheduled-runs-admin-token-0123456789",
    }
    log = tmp_path / f"{command}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "koipond_cli.main", command, "--every", "1s"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while log.read_text().count("run failed") < 2:
                assert process.poll() is None, f"{command} exited after a failed run:\n{log.read_text()}"
                assert time.monotonic() < deadline, f"{command} never reported two failed runs:\n{log.read_text()}"
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "unavailable" in log.read_text()  # the failure is named, not a bare traceback
