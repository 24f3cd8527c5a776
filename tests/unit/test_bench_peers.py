"""The peer scripts of the koi-per-core bench carry the behavior's actions: rates, methods, paths, templates."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from koipond.behavior_files import load_behavior_file
from koipond.models.templates import render_json, render_template
from school_container.prepared import KoiFacts, prepare_actions, variable_values

ROOT = Path(__file__).resolve().parents[2]
sys.path.append(str(ROOT / "bench"))  # bench/ is a directory of scripts; its peers package lives there

from peers import k6_user, locust_user, spec  # noqa: E402

AVERAGE_USER = load_behavior_file(ROOT / "behaviors" / "average_user.yaml")
GENERATED = {
    "k6": lambda s: k6_user.embedded_spec(k6_user.k6_script(s)),
    "locust": lambda s: locust_user.embedded_spec(locust_user.locustfile(s)),
}


def _join(parts: list[Any], values: dict[str, str]) -> str:
    return "".join(p if isinstance(p, str) else values[p["v"]] for p in parts)


def _render(value: Any, values: dict[str, str]) -> Any:
    """What the peers' renderers do with a carried template (joining parts)."""
    if isinstance(value, list):
        return [_render(v, values) for v in value]
    if isinstance(value, dict):
        if spec.TEMPLATE_KEY in value:
            return _join(value[spec.TEMPLATE_KEY], values)
        return {k: _render(v, values) for k, v in value.items()}
    return value


@pytest.mark.parametrize("tool", sorted(GENERATED))
def test_generated_script_carries_every_action_rate_method_and_path(tool: str) -> None:
    carried = GENERATED[tool](spec.behavior_spec(AVERAGE_USER))

    by_name = {a["name"]: a for a in carried["actions"]}
    assert set(by_name) == set(AVERAGE_USER.actions)
    for name, action in AVERAGE_USER.actions.items():
        assert by_name[name]["rate_per_second"] == pytest.approx(action.effective_rate_per_hour / 3600)
        assert by_name[name]["method"] == action.method
        assert _render(by_name[name]["path"], {}) == action.path
    assert carried["websocket"] == {"enabled": True, "path": "/ws", "ping_interval_seconds": 30}


@pytest.mark.parametrize("tool", sorted(GENERATED))
def test_generated_templates_render_as_the_koi_renders_them(tool: str) -> None:
    carried = {a["name"]: a for a in GENERATED[tool](spec.behavior_spec(AVERAGE_USER))["actions"]}
    facts = KoiFacts("t", "bench", 7, "C000049", {"C000049": "1718000000.000100"})

    for name, prepared in prepare_actions(AVERAGE_USER).items():
        values = variable_values(prepared.variables, facts, random.Random(1))
        assert values is not None
        params = {k: render_template(v, values) for k, v in prepared.params.items()} if prepared.params else None
        body = render_json(prepared.body, values) if prepared.body is not None else None
        assert _render(carried[name]["params"], values) == params
        assert _render(carried[name]["body"], values) == body


def test_only_bodies_naming_a_channel_get_client_sent_at_as_the_koi_stamps_them() -> None:
    stamped = {a["name"] for a in spec.behavior_spec(AVERAGE_USER)["actions"] if a["stamp_sent_at"]}

    assert stamped == {"post_message", "add_reaction"}


def test_users_get_the_channels_a_koi_of_their_index_joins() -> None:
    facts = spec.users(["tok0", "tok1"], "bench", AVERAGE_USER)

    assert facts[1]["user"] == "U00000001"
    assert facts[1]["token"] == "tok1"
    assert facts[1]["channels"] == ["C000007", "C000020", "C000033", "C000046", "C000059"]


def test_a_behavior_with_formations_is_refused() -> None:
    with_formations = load_behavior_file(ROOT / "behaviors" / "org_wide_announcement.yaml")

    with pytest.raises(spec.UnsupportedBehaviorError):
        spec.behavior_spec(with_formations)


@pytest.mark.skipif(shutil.which("node") is None, reason="node checks the k6 script's syntax")
def test_k6_script_is_valid_javascript(tmp_path: Path) -> None:
    script = tmp_path / "user.mjs"
    script.write_text(k6_user.k6_script(spec.behavior_spec(AVERAGE_USER)))

    subprocess.run(["node", "--check", str(script)], check=True, capture_output=True)


def test_locustfile_is_valid_python() -> None:
    compile(locust_user.locustfile(spec.behavior_spec(AVERAGE_USER)), "locustfile.py", "exec")
