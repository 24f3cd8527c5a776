"""The local webhook sink: records what it is sent, answers as scripted, refuses a malformed script."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local_pond.webhook_sink import WebhookSink


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


def test_scripted_answers_are_used_in_order_then_200(sink: WebhookSink) -> None:
    script = {"path": "/hooks/a", "answers": [{"status": 429, "headers": {"Retry-After": "1"}}, {"status": 503}]}
    assert httpx.post(f"{sink.url}/_sink/script", json=script).json() == {"scripted": 2, "path": "/hooks/a"}
    answers = [httpx.post(f"{sink.url}/hooks/a", json={"n": n}) for n in range(3)]
    assert [a.status_code for a in answers] == [429, 503, 200]
    assert answers[0].headers["retry-after"] == "1"
    seen = httpx.get(f"{sink.url}/_sink/requests", params={"path": "/hooks/a"}).json()
    assert [(r["body"], r["answered"]) for r in seen] == [({"n": 0}, 429), ({"n": 1}, 503), ({"n": 2}, 200)]
    assert httpx.delete(f"{sink.url}/_sink/requests").status_code == 200
    assert httpx.get(f"{sink.url}/_sink/requests").json() == []


@pytest.mark.parametrize("script", [{"answers": []}, {"path": "/x", "answers": [{"headers": {}}]}, [1]])
def test_a_malformed_script_is_refused_and_changes_nothing(sink: WebhookSink, script: object) -> None:
    answer = httpx.post(f"{sink.url}/_sink/script", json=script)
    assert answer.status_code == 400
    assert "expected {path, answers" in answer.json()["error"]
    assert httpx.post(f"{sink.url}/x").status_code == 200
