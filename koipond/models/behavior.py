"""Behavior documents: what each koi does (actions, websocket, channels) and scripted formations."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from koipond.models.durations import format_duration, parse_duration
from koipond.models.templates import json_strings, template_problems, template_variables
from koipond.models.text import MultiLine, SingleLine, single_line

BEHAVIOR_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""Names of stored behaviors (and of files in ``behaviors/``): URL- and DynamoDB-key-safe."""

IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
"""Names of actions, formations and formation steps."""

METRIC_LABEL_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_ACTIONS = 64  # bounds the cardinality of the per-action metric label
MAX_RATE_PER_HOUR = 36_000.0  # 10 calls/s per koi: far above any human, so a typo, not a plan
# DynamoDB refuses items over 400 KB; a stored version is this document plus ~300 bytes of name, version
# and author, so 256 KiB leaves room to spare whatever the document holds.
MAX_DOCUMENT_BYTES = 256 * 1024
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

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_M = TypeVar("_M", bound=BaseModel)


class CrossFieldError(ValueError):
    """Several problems found by one validator, each at its own path below the validated model.

    ``koipond.behavior_files.validation_problems`` expands it, so each problem keeps a precise path.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {problem}" if path else problem for path, problem in problems))
        self.problems = tuple(problems)


class _CrossChecked(BaseModel):
    """A model whose cross-field checks also run when one of its fields is invalid.

    Pydantic runs ``mode="after"`` validators only once every field is valid, so a file with a negative
    rate and a step naming an unknown action would name only the rate; fixed, it would fail again on the
    step. Here, when a field fails, :meth:`_problems_despite_field_errors` checks the raw input as far as
    it can, and its problems are reported beside the field errors.
    """

    @model_validator(mode="wrap")
    @classmethod
    def _cross_check_despite_field_errors(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            problems = cls._problems_despite_field_errors(data) if isinstance(data, dict) else []
            if not problems:
                raise
            # Pydantic turns a ValidationError raised here into its line errors, below this model's path.
            raise _with_problems(exc, problems) from None

    @classmethod
    def _problems_despite_field_errors(cls, data: dict[Any, Any]) -> list[tuple[str, str]]:
        """The cross-field problems of raw input some of whose fields are invalid (skipping those)."""
        return []


def _with_problems(exc: ValidationError, problems: list[tuple[str, str]]) -> ValidationError:
    line_errors: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False):
        line_error = InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"])
        if "ctx" in error:
            line_error["ctx"] = error["ctx"]
        line_errors.append(line_error)
    line_errors.append(
        InitErrorDetails(type="value_error", loc=(), input=None, ctx={"error": CrossFieldError(problems)})
    )
    return ValidationError.from_exception_data(exc.title, line_errors)


def _real_number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _identifier(value: Any) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(IDENTIFIER_PATTERN, value) else None


# --- actions, websocket, channels ----------------------------------------------------------------


class Action(_CrossChecked):
    """One HTTP call a koi makes, as a Poisson process at ``rate_per_hour * weight`` per koi."""

    model_config = _FROZEN

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
        rate, weight = _real_number(data.get("rate_per_hour")), _real_number(data.get("weight", 1.0))
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


class WebsocketSettings(_CrossChecked):
    """The realtime connection every koi holds while it swims."""

    model_config = _FROZEN

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
        low = _real_number(data.get("reconnect_min_seconds", 1.0))
        high = _real_number(data.get("reconnect_max_seconds", 60.0))
        return [] if low is None or high is None else _backoff_problems(low, high)


def _backoff_problems(low: float, high: float) -> list[tuple[str, str]]:
    if low <= high:
        return []
    problem = f"reconnect_min_seconds ({low:g}) is greater than reconnect_max_seconds ({high:g})"
    return [("reconnect_min_seconds", problem)]


class ChannelSelection(BaseModel):
    """Which channels koi use: ``count_per_koi`` of the workspace's, plus the org-wide one."""

    model_config = _FROZEN

    count_per_koi: int = Field(default=5, ge=0, le=500)
    org_wide: ChannelName | None = None


# --- formations ----------------------------------------------------------------------------------

_MIN_EVERY = timedelta(minutes=1)
MAX_EVERY_SECONDS = timedelta.max.days * 86400
"""The longest ``every`` Python's timedelta holds."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _quoted_hint(value: Any, example: str) -> Any:
    # YAML 1.1 reads unquoted 10:30 as the number 630 and 90 as an int: say so instead of "not a string".
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"expected a quoted string such as {example!r}, got the number {value!r}")
    return value


def _every_interval(text: str) -> timedelta:
    """The period an ``every`` start names, in koipond's one duration grammar (``koipond.models.durations``).

    Raises:
        ValueError: not a duration, shorter than a minute, or longer than a timedelta holds.
    """
    try:
        seconds = parse_duration(text)
    except ValueError:
        seconds = 0
    if seconds < _MIN_EVERY.total_seconds():
        raise ValueError(f"expected a duration of at least 1m such as '90s', '1h30m', '1d'; got {text!r}")
    if seconds > MAX_EVERY_SECONDS:
        raise ValueError(f"expected a duration of at most {format_duration(MAX_EVERY_SECONDS)}; got {text!r}")
    return timedelta(seconds=seconds)


class FormationStart(_CrossChecked):
    """When a formation fires: exactly one of ``at``, ``daily_utc`` or ``every``."""

    model_config = _FROZEN

    at: AwareDatetime | None = None
    daily_utc: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    every: str | None = None

    @field_validator("daily_utc", mode="before")
    @classmethod
    def _daily_quoted(cls, value: Any) -> Any:
        return _quoted_hint(value, "09:30")

    @field_validator("every", mode="before")
    @classmethod
    def _every_duration(cls, value: Any) -> Any:
        value = _quoted_hint(value, "1h")
        if isinstance(value, str):
            _every_interval(value)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> FormationStart:
        problem = _start_forms_problem({"at": self.at, "daily_utc": self.daily_utc, "every": self.every})
        if problem is not None:
            raise ValueError(problem)
        return self

    @classmethod
    def _problems_despite_field_errors(cls, data: dict[Any, Any]) -> list[tuple[str, str]]:
        problem = _start_forms_problem(data)
        return [] if problem is None else [("", problem)]

    @property
    def interval(self) -> timedelta | None:
        """The period of an ``every`` start, else None."""
        return None if self.every is None else _every_interval(self.every)

    def next_after(self, moment: datetime) -> datetime | None:
        """First firing time strictly after ``moment`` (None once a one-off ``at`` has passed).

        ``every`` counts from the Unix epoch, so every School computes the same times unaided.
        """
        if self.at is not None:
            return self.at if self.at > moment else None
        if self.daily_utc is not None:
            fire = datetime.combine(moment.astimezone(UTC).date(), time.fromisoformat(self.daily_utc), UTC)
            return fire if fire > moment else fire + timedelta(days=1)
        interval = self.interval
        assert interval is not None  # guaranteed by _exactly_one
        return _EPOCH + interval * ((moment - _EPOCH) // interval + 1)


def _start_forms_problem(data: dict[Any, Any]) -> str | None:
    chosen = [name for name in ("at", "daily_utc", "every") if data.get(name) is not None]
    return None if len(chosen) == 1 else f"set exactly one of 'at', 'daily_utc', 'every'; got {chosen or 'none'}"


class KoiShare(BaseModel):
    """A step selector: this fraction of the formation's participants."""

    model_config = _FROZEN

    share: float = Field(gt=0, le=1)


KoiSelector = Literal["all", "first"] | KoiShare


class FormationStep(BaseModel):
    """One step: the selected koi each call ``action`` ``repeat`` times within the step's window."""

    model_config = _FROZEN

    name: Identifier
    action: Identifier
    koi: KoiSelector = "all"
    within_seconds: float = Field(ge=0, le=86_400)
    after: Identifier | None = None
    repeat: int = Field(default=1, ge=1, le=1000)

    @field_validator("koi", mode="wrap")
    @classmethod
    def _koi_selector(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # A plain union reports one error per member, with type names as paths: one clear message instead.
        try:
            return handler(value)
        except ValueError:
            raise ValueError(f"expected 'all', 'first' or {{share: <0 < x <= 1>}}, got {value!r}") from None


class _StepRef(NamedTuple):
    """What the cross-field checks need of a step, whether validated or raw: its position and names."""

    position: int
    name: str
    after: str | None
    action: str | None


def _step_order_problems(steps: Sequence[_StepRef]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    names = [step.name for step in steps]
    for step in steps:
        if step.name in seen:
            problems.append((f"steps[{step.position}].name", f"duplicate step name {step.name!r}"))
        elif (problem := _order_problem(step, seen, names)) is not None:
            problems.append((f"steps[{step.position}].after", problem))
        seen.add(step.name)
    return problems


def _order_problem(step: _StepRef, earlier: set[str], names: list[str]) -> str | None:
    if step.after is None or step.after in earlier:
        return None
    if step.after == step.name:
        where = "itself"
    elif step.after in names:
        where = "a later step"
    else:
        where = "no step of this formation"
    return f"step {step.name!r} runs after {step.after!r}, which is {where}"


def _raw_step_refs(steps: Any) -> list[_StepRef]:
    """The steps of raw input whose name is valid; an invalid ``after`` or ``action`` is left out (None)."""
    if not isinstance(steps, list):
        return []
    refs = []
    for i, step in enumerate(steps):
        if isinstance(step, dict) and (name := _identifier(step.get("name"))) is not None:
            refs.append(_StepRef(i, name, _identifier(step.get("after")), _identifier(step.get("action"))))
    return refs


class Formation(_CrossChecked):
    """A scripted, coordinated scenario that many koi play at the same time."""

    model_config = _FROZEN

    description: Description = ""
    start: FormationStart
    spread_seconds: float = Field(default=0.0, ge=0, le=86_400)
    # Koi 0 always takes part, so that a `first` step has its admin whatever the share.
    share: float = Field(default=1.0, gt=0, le=1)
    # What {channel.*} means in the steps: channels.org_wide, or one of the koi's channels per run.
    channel: Literal["org_wide", "own"] = "own"
    steps: list[FormationStep] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _check_steps(self) -> Formation:
        problems = _step_order_problems(self._step_refs())
        interval = self.start.interval
        if not problems and interval is not None and self.duration_seconds >= interval.total_seconds():
            problems.append(
                (
                    "start.every",
                    f"runs would overlap: one run lasts {self.duration_seconds:g}s, "
                    f"not less than every {self.start.every!r}",
                )
            )
        if problems:
            raise CrossFieldError(problems)
        return self

    @classmethod
    def _problems_despite_field_errors(cls, data: dict[Any, Any]) -> list[tuple[str, str]]:
        # Whether runs overlap needs every step's window and a valid start: that check waits for them.
        return _step_order_problems(_raw_step_refs(data.get("steps")))

    def _step_refs(self) -> list[_StepRef]:
        """Each step's index, name, ``after`` and action."""
        return [_StepRef(i, step.name, step.after, step.action) for i, step in enumerate(self.steps)]

    @property
    def duration_seconds(self) -> float:
        """Longest time from firing until the last participant's last step window closes."""
        ends: dict[str, float] = {}
        previous_end = 0.0
        for step in self.steps:
            begin = ends[step.after] if step.after is not None else previous_end
            previous_end = ends[step.name] = begin + step.within_seconds
        return self.spread_seconds + max(ends.values())


# --- documents -----------------------------------------------------------------------------------


class BehaviorDocument(_CrossChecked):
    """A behavior as uploaded to the Keeper and stored in ``behaviors/``."""

    model_config = _FROZEN

    schema_version: Literal[1] = 1
    description: Description
    actions: dict[Identifier, Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    websocket: WebsocketSettings = Field(default_factory=WebsocketSettings)
    channels: ChannelSelection = Field(default_factory=ChannelSelection)
    formations: dict[Identifier, Formation] = Field(default_factory=dict, max_length=32)

    @field_validator("actions", mode="after")
    @classmethod
    def _default_metric_names(cls, actions: dict[str, Action]) -> dict[str, Action]:
        return {
            name: action
            if action.name_for_metrics is not None
            else action.model_copy(update={"name_for_metrics": name})
            for name, action in actions.items()
        }

    @model_validator(mode="after")
    def _within_size_limit(self) -> BehaviorDocument:
        # Measured as stored (compact JSON, defaults filled in), so the limit is what DynamoDB will see.
        size = len(self.model_dump_json().encode())
        if size > MAX_DOCUMENT_BYTES:
            raise ValueError(
                f"the behavior document is {size:,} bytes as stored JSON; the limit is "
                f"{MAX_DOCUMENT_BYTES:,} bytes ({MAX_DOCUMENT_BYTES // 1024} KiB)"
            )
        return self

    @model_validator(mode="after")
    def _check_references(self) -> BehaviorDocument:
        formations = {name: (formation.channel, formation._step_refs()) for name, formation in self.formations.items()}
        problems = _reference_problems(self.actions, self.actions, self.channels, formations)
        if problems:
            raise CrossFieldError(problems)
        return self

    @classmethod
    def _problems_despite_field_errors(cls, data: dict[Any, Any]) -> list[tuple[str, str]]:
        actions = data.get("actions")
        if not isinstance(actions, dict):
            return []  # no action names to hold the steps against
        formations: dict[str, tuple[str, list[_StepRef]]] = {}
        raw_formations = data.get("formations")
        for name, formation in raw_formations.items() if isinstance(raw_formations, dict) else ():
            if isinstance(name, str) and isinstance(formation, dict):
                channel = formation.get("channel", "own")
                formations[name] = (
                    channel if channel in ("org_wide", "own") else "own",
                    _raw_step_refs(formation.get("steps")),
                )
        names = [name for name in actions if isinstance(name, str)]
        return _reference_problems(
            names, _valid_parts(Action, actions), _valid_part(ChannelSelection, data.get("channels", {})), formations
        )

    @property
    def steady_rate_per_hour(self) -> float:
        """Total per-koi steady-state call rate, formations excluded (calls per hour)."""
        return sum(action.effective_rate_per_hour for action in self.actions.values())


def _reference_problems(
    action_names: Iterable[str],
    actions: Mapping[str, Action],
    channels: ChannelSelection | None,
    formations: Mapping[str, tuple[str, Sequence[_StepRef]]],
) -> list[tuple[str, str]]:
    """Actions using channels no koi has, formations using an unset org-wide channel, unknown step actions.

    Args:
        action_names: every action's name, valid or not.
        actions: the valid actions.
        channels: the channel selection, None when it is invalid itself.
        formations: each formation's channel and steps.
    """
    problems: list[tuple[str, str]] = []
    if channels is not None:
        problems += _channel_problems(actions, channels, {name: channel for name, (channel, _) in formations.items()})
    names = list(action_names)
    for formation_name, (_, steps) in formations.items():
        for step in steps:
            if step.action is not None and step.action not in names:
                problems.append(
                    (
                        f"formations.{formation_name}.steps[{step.position}].action",
                        f"formation {formation_name!r} step {step.name!r} names unknown action "
                        f"{step.action!r}; actions: {', '.join(names)}",
                    )
                )
    return problems


def _channel_problems(
    actions: Mapping[str, Action], channels: ChannelSelection, formation_channels: Mapping[str, str]
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for name, action in actions.items():
        if channels.count_per_koi == 0 and action.effective_rate_per_hour > 0 and _uses_channel(action):
            problems.append(
                (f"actions.{name}", f"action {name!r} uses a channel variable but channels.count_per_koi is 0")
            )
    for name, channel in formation_channels.items():
        if channel == "org_wide" and channels.org_wide is None:
            problems.append(
                (
                    f"formations.{name}.channel",
                    f"formation {name!r} uses the org-wide channel but channels.org_wide names none",
                )
            )
    return problems


def _uses_channel(action: Action) -> bool:
    return bool({"channel.id", "channel.name", "message.ts"} & action.variables_used())


def _valid_part(model: type[_M], data: Any) -> _M | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def _valid_parts(model: type[_M], data: dict[Any, Any]) -> dict[str, _M]:
    parts = {name: _valid_part(model, value) for name, value in data.items() if isinstance(name, str)}
    return {name: part for name, part in parts.items() if part is not None}


class StoredBehavior(BaseModel):
    """One immutable version of a named behavior, as the Keeper stores it."""

    model_config = _FROZEN

    name: str = Field(pattern=BEHAVIOR_NAME_PATTERN)
    version: int = Field(ge=1)
    document: BehaviorDocument
    created_at: AwareDatetime
    created_by: str = Field(min_length=1, max_length=256)
