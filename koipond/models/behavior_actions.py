"""What each koi does while it swims: its actions, its websocket, its channels; and the field types of behaviors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, JsonValue, StringConstraints, model_validator

from koipond.models.behavior_checks import FROZEN, CrossChecked, CrossFieldError, real_number
from koipond.models.templates import json_strings, template_problems, template_variables
from koipond.models.text import MultiLine, SingleLine, single_line

IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
"""Names of actions, formations and formation steps."""

METRIC_LABEL_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_RATE_PER_HOUR = 36_000.0  # 10 calls/s per koi: far above any human, so a typo, not a plan
MAX_PATH_LENGTH = 2048
MAX_PARAMS = 50
MAX_PARAM_NAME_LENGTH = 128
MAX_PARAM_VALUE_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 2000

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,79}$")]
ParamName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PARAM_NAME_LENGTH), SingleLine]
ParamValue = Annotated[str, StringConstraints(max_length=MAX_PARAM_VALUE_LENGTH), SingleLine]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH), MultiLine]

# A dot segment, also percent-encoded: URL parsers (WHATWG, Rust's url, which pyreqwest uses) resolve
# %2e%2e as .., so either walks out of a target's base path (http://host/pond/ + /../admin).
_DOT_SEGMENT = re.compile(r"(?:\.|%2e){1,2}", re.IGNORECASE)


def _target_path(path: str) -> str:
    """A path on the test's target, never a way to another host or outside the target's base path.

    ``//evil.example/x`` is a scheme-relative URL and ``/\\evil.example`` reads as one to WHATWG
    parsers; whitespace and control characters would split or smuggle the request line.
    """
    single_line(path)
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError(f"must start with a single '/' (a path on the test's target); got {path[:40]!r}")
    if "\\" in path or any(c.isspace() for c in path):
        raise ValueError("must not contain whitespace or backslashes (percent-encode them, e.g. %20)")
    segments = path.split("?", 1)[0].split("/")
    if any(_DOT_SEGMENT.fullmatch(segment) for segment in segments):
        raise ValueError("must not contain '.' or '..' segments (also not as %2e)")
    return path


TargetPath = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH_LENGTH), AfterValidator(_target_path)]
"""A path on the test's target: ``/`` then no ``//``, dot segments, whitespace or control characters."""


class Action(CrossChecked):
    """One HTTP call a koi makes, as a Poisson process at ``rate_per_hour * weight`` per koi."""

    model_config = FROZEN

    method: HttpMethod
    path: TargetPath
    params: dict[ParamName, ParamValue] = Field(default_factory=dict, max_length=MAX_PARAMS)
    body: dict[str, JsonValue] | None = None
    rate_per_hour: float = Field(ge=0, le=MAX_RATE_PER_HOUR)
    # A dial on the rate: 0 keeps the action for formations only, 2 doubles it without restating it.
    weight: float = Field(default=1.0, ge=0, le=100)
    name_for_metrics: str | None = Field(default=None, pattern=METRIC_LABEL_PATTERN)

    @model_validator(mode="after")
    def _check_templates(self) -> Action:
        problems = _action_problems(self.template_strings(), self.rate_per_hour, self.weight)
        if problems:
            raise CrossFieldError(problems)
        return self

    @classmethod
    def _problems_despite_field_errors(cls, data: dict[Any, Any]) -> list[tuple[str, str]]:
        strings: list[tuple[str, Any]] = [("path", data.get("path"))]
        if isinstance(params := data.get("params"), dict):
            strings += [(f"params.{key}", value) for key, value in params.items()]
        if isinstance(body := data.get("body"), dict):
            strings += json_strings(body, "body")
        rate, weight = real_number(data.get("rate_per_hour")), real_number(data.get("weight", 1.0))
        # A rate or weight out of its own bounds is already reported; their product only when both are fine.
        if rate is None or weight is None or not (0 <= rate <= MAX_RATE_PER_HOUR and 0 <= weight <= 100):
            rate = weight = 0.0
        return _action_problems(((path, text) for path, text in strings if isinstance(text, str)), rate, weight)

    @property
    def effective_rate_per_hour(self) -> float:
        """Per-koi steady-state rate of this action (calls per hour)."""
        return self.rate_per_hour * self.weight

    def template_strings(self) -> Iterator[tuple[str, str]]:
        """Yield ``(path, template)`` for every templated string: path, params values, body strings."""
        yield "path", self.path
        for key, value in self.params.items():
            yield f"params.{key}", value
        if self.body is not None:
            yield from json_strings(self.body, "body")

    def variables_used(self) -> frozenset[str]:
        """Every template variable this action's path, params and body use."""
        return frozenset(v for _, text in self.template_strings() for v in template_variables(text))


def _action_problems(templates: Iterable[tuple[str, str]], rate: float, weight: float) -> list[tuple[str, str]]:
    problems = [(path, problem) for path, text in templates for problem in template_problems(text)]
    if rate * weight > MAX_RATE_PER_HOUR:
        problems.append(("weight", f"rate_per_hour * weight exceeds {MAX_RATE_PER_HOUR:g} per hour"))
    return problems


class WebsocketSettings(CrossChecked):
    """The realtime connection every koi holds while it swims."""

    model_config = FROZEN

    enabled: bool = True
    path: TargetPath = "/ws"
    reconnect_min_seconds: float = Field(default=1.0, gt=0, le=3600)
    reconnect_max_seconds: float = Field(default=60.0, gt=0, le=3600)
    ping_interval_seconds: float = Field(default=30.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _min_le_max(self) -> WebsocketSettings:
        problems = _backoff_problems(self.reconnect_min_seconds, self.reconnect_max_seconds)
        if problems:
            raise CrossFieldError(problems)
        return self

    @classmethod
    def _problems_despite_field_errors(cls, data: dict[Any, Any]) -> list[tuple[str, str]]:
        low = real_number(data.get("reconnect_min_seconds", 1.0))
        high = real_number(data.get("reconnect_max_seconds", 60.0))
        return [] if low is None or high is None else _backoff_problems(low, high)


def _backoff_problems(low: float, high: float) -> list[tuple[str, str]]:
    if low <= high:
        return []
    problem = f"reconnect_min_seconds ({low:g}) is greater than reconnect_max_seconds ({high:g})"
    return [("reconnect_min_seconds", problem)]


class ChannelSelection(BaseModel):
    """Which channels koi use: ``count_per_koi`` of the workspace's, plus the org-wide one."""

    model_config = FROZEN

    count_per_koi: int = Field(default=5, ge=0, le=500)
    org_wide: ChannelName | None = None
