"""The notification secret's validation: clear errors naming the field, never repeating a webhook URL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from koipond.notifications.config import NotificationConfigError, parse_config
from koipond.notifications.kinds import NotificationKind

SECRET_PATH = "T0000/B0000/very-secret-token"


def route(**overrides: Any) -> dict[str, Any]:
    base = {
        "name": "oncall",
        "type": "incoming",
        "url": f"https://hooks.slack.com/services/{SECRET_PATH}",
        "kinds": ["emergency_stop_on"],
    }
    return {**base, **overrides}


def test_a_valid_secret_routes_kinds_by_name() -> None:
    config = parse_config(
        json.dumps(
            {
                "routes": [route(), route(name="release", type="workflow", kinds=["rollout_advanced"])],
                "dashboard_url": "https://grafana.example",
            }
        )
    )
    assert [r.name for r in config.routes_for(NotificationKind.EMERGENCY_STOP_ON)] == ["oncall"]
    assert config.route("release") is not None
    assert config.routes_for(NotificationKind.DEPLOY_VERDICT) == []
    assert SECRET_PATH not in repr(config)


@pytest.mark.parametrize(
    ("document", "path", "problem"),
    [
        ({"routes": [route(url=f"http://hooks.slack.com/{SECRET_PATH}")]}, "routes.0.url", "https://"),
        ({"routes": [route(url=f"ftp://{SECRET_PATH}")]}, "routes.0.url", "https://"),
        ({"routes": [route(kinds=[])]}, "routes.0.kinds", "at least 1"),
        ({"routes": [route(kinds=["stage_exploded"])]}, "routes.0.kinds.0", "Input should be"),
        ({"routes": [route(type="email")]}, "routes.0.type", "Input should be"),
        ({"routes": [route(name="Bad Name!")]}, "routes.0.name", "pattern"),
        ({"routes": [route(), route()]}, "(root)", "repeated: oncall"),
        ({"routes": [route(colour="red")]}, "routes.0.colour", "Extra inputs"),
    ],
)
def test_invalid_secrets_name_the_field_without_echoing_urls(document: Any, path: str, problem: str) -> None:
    with pytest.raises(NotificationConfigError) as caught:
        parse_config(json.dumps(document))
    error = caught.value
    assert any(p["path"] == path and problem in p["problem"] for p in error.details["problems"]), error.message
    assert SECRET_PATH not in error.message
    assert SECRET_PATH not in json.dumps(error.details)


def test_a_secret_that_is_not_json_says_where() -> None:
    with pytest.raises(NotificationConfigError, match="not JSON \\(line 1, column 2\\)"):
        parse_config("{routes")


def test_plain_http_is_allowed_for_a_loopback_sink() -> None:
    config = parse_config(json.dumps({"routes": [route(url="http://127.0.0.1:8790/hooks/a")]}))
    assert config.routes[0].url.get_secret_value() == "http://127.0.0.1:8790/hooks/a"
