"""The load a behavior makes, before it runs: requests/s per 1,000 koi, websockets, formations, implausible rates.

How it counts (the same arithmetic the School's scheduler follows, ``koipond.services.scheduling``):

- a steady action makes ``rate_per_hour * weight`` calls per koi per hour, so ``x * 1000 / 3600`` calls/s
  per 1,000 koi;
- a formation fires on its schedule; per firing, a step makes ``koi selected * repeat`` calls, where the
  selected koi are ``1000 * share`` (``all``), ``1000 * share * x`` (``{share: x}``) or one koi per test
  (``first``, counted as 1 whatever the koi). Those calls land within ``within_seconds + spread_seconds``
  (the peak rate while the step runs), and averaged over the formation's period (``every``, or a day for
  ``daily_utc``; a one-off ``at`` has no average) they add to the steady load.
"""

from __future__ import annotations

from dataclasses import dataclass

from koipond.models.behavior import Action, BehaviorDocument, Formation, FormationStep, KoiShare

PER_KOI = 1000
"""The preview's unit: figures are per this many koi."""
IMPLAUSIBLE_RATE_PER_HOUR = 3600.0
"""More than one call a second, all hour long, per koi: no person does that (per action, or all actions together)."""
IMPLAUSIBLE_STEP_CALLS_PER_SECOND = 1.0
"""A formation step in which each selected koi calls faster than this (or more than once at the same instant)."""
_DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class ActionLoad:
    """One steady-state action: its per-koi rate and what 1,000 koi make of it."""

    name: str
    method: str
    path: str
    rate_per_hour: float
    weight: float
    per_koi_per_hour: float
    requests_per_second: float
    """Per 1,000 koi."""


@dataclass(frozen=True)
class StepLoad:
    """One formation step: calls per firing and their rates, per 1,000 koi."""

    formation: str
    step: str
    action: str
    koi: str
    calls_per_firing: float
    peak_requests_per_second: float | None
    """While the step's calls land; None when they all land at the same instant (within and spread 0)."""
    average_requests_per_second: float | None
    """Over the formation's period; None for a one-off ``at``."""


@dataclass(frozen=True)
class FormationLoad:
    """One formation: when it fires and its steps."""

    name: str
    schedule: str
    period_seconds: float | None
    steps: tuple[StepLoad, ...]

    @property
    def calls_per_firing(self) -> float:
        """Every step's calls per firing, per 1,000 koi."""
        return sum(step.calls_per_firing for step in self.steps)

    @property
    def average_requests_per_second(self) -> float:
        """The formation's calls averaged over its period, per 1,000 koi (0 for a one-off)."""
        return sum(step.average_requests_per_second or 0.0 for step in self.steps)


@dataclass(frozen=True)
class WebsocketLoad:
    """Connections and keep-alive pings of 1,000 koi."""

    enabled: bool
    connections: int
    pings_per_second: float


@dataclass(frozen=True)
class RateWarning:
    """A rate that is valid but implausible for a person, with where it is."""

    path: str
    problem: str


@dataclass(frozen=True)
class BehaviorPreview:
    """The load of one behavior per 1,000 koi."""

    per_koi: int
    actions: tuple[ActionLoad, ...]
    websocket: WebsocketLoad
    formations: tuple[FormationLoad, ...]
    warnings: tuple[RateWarning, ...]

    @property
    def steady_per_koi_per_hour(self) -> float:
        """Calls per koi per hour of every steady-state action."""
        return sum(action.per_koi_per_hour for action in self.actions)

    @property
    def steady_requests_per_second(self) -> float:
        """Steady-state calls per second of 1,000 koi."""
        return sum(action.requests_per_second for action in self.actions)

    @property
    def total_requests_per_second(self) -> float:
        """Steady state plus every formation averaged over its period, per 1,000 koi."""
        return self.steady_requests_per_second + sum(f.average_requests_per_second for f in self.formations)


def preview_behavior(document: BehaviorDocument) -> BehaviorPreview:
    """The load ``document`` makes per 1,000 koi, and its implausible rates.

    Args:
        document: a validated behavior.

    Returns:
        Per-action and per-formation-step rates, websocket connections, and warnings.
    """
    actions = tuple(_action_load(name, action) for name, action in document.actions.items())
    formations = tuple(_formation_load(name, formation) for name, formation in document.formations.items())
    ws = document.websocket
    websocket = WebsocketLoad(
        enabled=ws.enabled,
        connections=PER_KOI if ws.enabled else 0,
        pings_per_second=PER_KOI / ws.ping_interval_seconds if ws.enabled else 0.0,
    )
    return BehaviorPreview(PER_KOI, actions, websocket, formations, tuple(_warnings(document, actions)))


def _action_load(name: str, action: Action) -> ActionLoad:
    per_hour = action.effective_rate_per_hour
    return ActionLoad(
        name=name,
        method=action.method,
        path=action.path,
        rate_per_hour=action.rate_per_hour,
        weight=action.weight,
        per_koi_per_hour=per_hour,
        requests_per_second=per_hour * PER_KOI / 3600,
    )


def _formation_load(name: str, formation: Formation) -> FormationLoad:
    period = _period_seconds(formation)
    steps = tuple(_step_load(name, formation, step, period) for step in formation.steps)
    return FormationLoad(name, _schedule(formation), period, steps)


def _period_seconds(formation: Formation) -> float | None:
    start = formation.start
    if start.every is not None:
        interval = start.interval
        assert interval is not None
        return interval.total_seconds()
    return _DAY_SECONDS if start.daily_utc is not None else None


def _schedule(formation: Formation) -> str:
    start = formation.start
    if start.every is not None:
        return f"every {start.every}"
    if start.daily_utc is not None:
        return f"daily at {start.daily_utc} UTC"
    assert start.at is not None
    return f"once at {start.at.isoformat()}"


def _step_load(formation_name: str, formation: Formation, step: FormationStep, period: float | None) -> StepLoad:
    calls = _selected_koi(formation, step) * step.repeat
    landing = step.within_seconds + formation.spread_seconds
    return StepLoad(
        formation=formation_name,
        step=step.name,
        action=step.action,
        koi=_selector_text(step),
        calls_per_firing=calls,
        peak_requests_per_second=calls / landing if landing > 0 else None,
        average_requests_per_second=None if period is None else calls / period,
    )


def _selected_koi(formation: Formation, step: FormationStep) -> float:
    if step.koi == "first":
        return 1.0  # koi 0 of the test, whatever the number of koi
    participants = PER_KOI * formation.share
    return participants * step.koi.share if isinstance(step.koi, KoiShare) else participants


def _selector_text(step: FormationStep) -> str:
    return f"share {step.koi.share:g}" if isinstance(step.koi, KoiShare) else step.koi


def _warnings(document: BehaviorDocument, actions: tuple[ActionLoad, ...]) -> list[RateWarning]:
    warnings = [
        RateWarning(
            f"actions.{a.name}",
            f"{a.per_koi_per_hour:,.6g} calls per koi per hour is more than one a second: no person does that "
            "(rates are per hour; check rate_per_hour and weight)",
        )
        for a in actions
        if a.per_koi_per_hour > IMPLAUSIBLE_RATE_PER_HOUR
    ]
    total = sum(a.per_koi_per_hour for a in actions)
    if total > IMPLAUSIBLE_RATE_PER_HOUR:
        warnings.append(
            RateWarning(
                "actions", f"all actions together make {total:,.6g} calls per koi per hour, more than one a second"
            )
        )
    for name, formation in document.formations.items():
        warnings += _step_warnings(name, formation)
    if total == 0 and not document.formations:
        warnings.append(RateWarning("actions", "every action has rate 0 and there is no formation: koi make no calls"))
    return warnings


def _step_warnings(name: str, formation: Formation) -> list[RateWarning]:
    warnings = []
    for i, step in enumerate(formation.steps):
        if step.repeat <= 1:
            continue
        path = f"formations.{name}.steps[{i}]"
        if step.within_seconds == 0:
            warnings.append(RateWarning(path, f"each selected koi makes {step.repeat} calls at the same instant"))
        elif step.repeat / step.within_seconds > IMPLAUSIBLE_STEP_CALLS_PER_SECOND:
            per_second = step.repeat / step.within_seconds
            warnings.append(
                RateWarning(path, f"each selected koi calls {per_second:,.3g} times a second during the step")
            )
    return warnings
