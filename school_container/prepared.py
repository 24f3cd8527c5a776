"""A behavior's actions prepared once per test, and the values of template variables.

Everything about an action that does not change from call to call (its metric label, method, and for
an action without variables its rendered path, params and body) is worked out once per test instead
of on every call: at thousands of calls a second that per-call work was most of a koi's own cost.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import JsonValue

from koipond import workspace
from koipond.models.behavior import Action, BehaviorDocument
from koipond.models.templates import render_json, render_template

_WORDS = (
    "pond", "koi", "swim", "ripple", "lotus", "carp", "splash", "reed", "stone", "bridge", "lantern", "moss",
    "current", "shade",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PreparedAction:
    """One action of a behavior, ready to call.

    ``path``, ``params`` and ``body`` are templates when ``variables`` is not empty (see ``render``),
    and the final values otherwise.
    """

    label: str
    method: str
    variables: frozenset[str]
    path: str
    params: dict[str, str] | None
    body: JsonValue | None

    def render(self, values: Mapping[str, str]) -> tuple[str, dict[str, str] | None, JsonValue | None]:
        """Path, params and body with ``values`` filled in; raises TemplateError for a missing one."""
        params = {k: render_template(v, values) for k, v in self.params.items()} if self.params else None
        body = render_json(self.body, values) if self.body is not None else None
        return render_template(self.path, values), params, body


def prepare(name: str, action: Action) -> PreparedAction:
    prepared = PreparedAction(
        label=action.name_for_metrics or name,
        method=action.method,
        variables=action.variables_used(),
        path=action.path,
        params=dict(action.params) or None,
        body=action.body,
    )
    if prepared.variables:
        return prepared
    path, params, body = prepared.render({})  # literal braces ({{ }}) still need rendering
    return PreparedAction(prepared.label, prepared.method, prepared.variables, path, params, body)


def prepare_actions(behavior: BehaviorDocument) -> dict[str, PreparedAction]:
    return {name: prepare(name, action) for name, action in behavior.actions.items()}


@dataclass(frozen=True, slots=True)
class KoiFacts:
    """What variables of one call are made of: the koi, its test, the call's channel, what it has seen."""

    test_id: str
    workspace: str
    index: int
    channel: str
    newest_ts: Mapping[str, str]


def variable_value(name: str, facts: KoiFacts, rng: random.Random) -> str | None:
    """The value of template variable ``name`` for one call; None when it has none (e.g. no message yet)."""
    match name:
        case "koi.index":
            return str(facts.index)
        case "koi.id":
            return f"{facts.test_id}:{facts.index}"
        case "user.id":
            return workspace.user_id(facts.index)
        case "user.name":
            return workspace.user_name(facts.index)
        case "workspace":
            return facts.workspace
        case "channel.id":
            return facts.channel
        case "channel.name":
            return workspace.channel_name(facts.channel)
        case "message.ts":
            return facts.newest_ts.get(facts.channel)
        case "random.int":
            return str(rng.randrange(1_000_000_000))
        case "random.uuid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        case "random.text":
            return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12)))
        case "now.ts":
            return f"{time.time():.6f}"
    return None


def variable_values(used: frozenset[str], facts: KoiFacts, rng: random.Random) -> dict[str, str] | None:
    """Values of the variables an action uses; None when one has none (the call is then skipped)."""
    values: dict[str, str] = {}
    for name in used:
        value = variable_value(name, facts, rng)
        if value is None:
            return None
        values[name] = value
    return values
