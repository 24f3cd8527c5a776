"""Formations: scripted, coordinated scenarios that many koi of a behavior play at the same time."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import AwareDatetime, BaseModel, Field, ValidatorFunctionWrapHandler, field_validator, model_validator

from koipond.models.behavior_actions import IDENTIFIER_PATTERN, Description, Identifier
from koipond.models.behavior_checks import FROZEN, CrossChecked, CrossFieldError
from koipond.models.durations import format_duration, parse_duration

_MIN_EVERY = timedelta(minutes=1)
MAX_EVERY_SECONDS = 366 * 86400
"""The longest ``every``: a year. Firing times are datetimes counted from the epoch, which end in year 9999
(an ``every`` of ~8,000 years validated once and then overflowed the scheduler); a formation that fires
less than once a year is better written as an ``at``."""
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


class FormationStart(CrossChecked):
    """When a formation fires: exactly one of ``at``, ``daily_utc`` or ``every``."""

    model_config = FROZEN

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

    model_config = FROZEN

    share: float = Field(gt=0, le=1)


KoiSelector = Literal["all", "first"] | KoiShare


class FormationStep(BaseModel):
    """One step: the selected koi each call ``action`` ``repeat`` times within the step's window."""

    model_config = FROZEN

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


class StepRef(NamedTuple):
    """What the cross-field checks need of a step, whether validated or raw: its position and names."""

    position: int
    name: str
    after: str | None
    action: str | None


def _step_order_problems(steps: Sequence[StepRef]) -> list[tuple[str, str]]:
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


def _order_problem(step: StepRef, earlier: set[str], names: list[str]) -> str | None:
    if step.after is None or step.after in earlier:
        return None
    if step.after == step.name:
        where = "itself"
    elif step.after in names:
        where = "a later step"
    else:
        where = "no step of this formation"
    return f"step {step.name!r} runs after {step.after!r}, which is {where}"


def raw_step_refs(steps: Any) -> list[StepRef]:
    """The steps of raw input whose name is valid; an invalid ``after`` or ``action`` is left out (None)."""
    if not isinstance(steps, list):
        return []
    refs = []
    for i, step in enumerate(steps):
        if isinstance(step, dict) and (name := _identifier(step.get("name"))) is not None:
            refs.append(StepRef(i, name, _identifier(step.get("after")), _identifier(step.get("action"))))
    return refs


class Formation(CrossChecked):
    """A scripted, coordinated scenario that many koi play at the same time."""

    model_config = FROZEN

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
        return _step_order_problems(raw_step_refs(data.get("steps")))

    def _step_refs(self) -> list[StepRef]:
        """Each step's index, name, ``after`` and action."""
        return [StepRef(i, step.name, step.after, step.action) for i, step in enumerate(self.steps)]

    @property
    def duration_seconds(self) -> float:
        """Longest time from firing until the last participant's last step window closes."""
        ends: dict[str, float] = {}
        previous_end = 0.0
        for step in self.steps:
            begin = ends[step.after] if step.after is not None else previous_end
            previous_end = ends[step.name] = begin + step.within_seconds
        return self.spread_seconds + max(ends.values())


def _identifier(value: Any) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(IDENTIFIER_PATTERN, value) else None
