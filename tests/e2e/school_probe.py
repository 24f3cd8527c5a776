"""Reading a School's and the target's metrics in e2e tests, and waiting for a condition."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")


def samples(url: str) -> dict[str, float]:
    """``name{label="v",...}`` -> value for every sample at ``url``; also ``name`` alone, summed over labels."""
    text = httpx.get(url, timeout=5).text
    found: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] += sample.value
            found[sample.name] += sample.value
    return found


def wait_for(what: str, probe: Callable[[], T], ok: Callable[[T], bool], timeout: float = 40.0) -> T:
    """Poll ``probe`` until ``ok`` holds; fail naming ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not ok(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        time.sleep(0.25)
        value = probe()
    return value
