"""Behaviors from real usage: per-user rates of each API method, mapped onto an existing behavior's actions.

A method maps to the base behavior's action whose path (without its query) ends with it on a segment
boundary (``chat.postMessage`` -> ``/api/chat.postMessage``; a method written ``POST /api/x`` must also
match the HTTP method). When several actions match, the first with a steady rate above 0 takes the
method (so a formation-only copy keeps its role), else the first. The derived behavior keeps the base's
websocket, channels and formations; a base action no method maps to is kept at rate 0 when a formation
uses it, and left out otherwise. Every such decision is returned, so the caller can say it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from koipond.errors import BadRequestError, UsageInvalidError
from koipond.models.behavior import MAX_RATE_PER_HOUR, Action, BehaviorDocument
from koipond.models.prometheus import VectorSample
from koipond.models.usage import UsageTable

PercentileOf = Literal["method", "user"]
SIGNIFICANT_DIGITS = 3
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class MethodRates:
    """Calls per hour of one (possibly composite) user, per API method."""

    rates_per_hour: Mapping[str, float]
    """Every method of the source, 0 included."""
    users: float
    """Users the rates were taken over (Prometheus' active users may be an average, so a float)."""
    statistic: str
    """Which user: ``the average user``, ``the 90th percentile of each method's rate``, ..."""


def average_rates(table: UsageTable) -> MethodRates:
    """The average user's rates: each method's calls over every user of the export, per hour of the window.

    Args:
        table: the export.

    Returns:
        Calls per hour per method of the average user.
    """
    hours = table.window.seconds / 3600
    users = len(table.calls)
    totals = dict.fromkeys(table.methods, 0.0)
    for by_method in table.calls.values():
        for method, calls in by_method.items():
            totals[method] += calls
    return MethodRates({m: total / users / hours for m, total in totals.items()}, users, "the average user")


def percentile_rates(table: UsageTable, percentile: float, of: PercentileOf = "method") -> MethodRates:
    """The rates of the user at ``percentile`` (nearest rank: a value some user really has).

    Args:
        table: the export.
        percentile: in (0, 100]; 50 is the median user, 100 the busiest.
        of: ``method``: each method's rate is that percentile of the users' rates of it (users without
            a row for it count as 0), a composite user that is busy in every method at once; ``user``: the
            one user at that percentile of total calls, with its own mix of methods.

    Returns:
        Calls per hour per method.

    Raises:
        ValueError: ``percentile`` is outside (0, 100].
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"a percentile is in (0, 100], got {percentile}")
    hours = table.window.seconds / 3600
    methods, users = table.methods, list(table.calls)
    label = f"p{percentile:g}"
    if of == "user":
        ranked = sorted(users, key=lambda u: (sum(table.calls[u].values()), u))
        chosen = table.calls[ranked[nearest_rank(len(ranked), percentile) - 1]]
        rates = {m: chosen.get(m, 0.0) / hours for m in methods}
        return MethodRates(rates, len(users), f"the {label} user by total calls (its own mix of methods)")
    rates = {}
    for method in methods:
        values = sorted(table.calls[u].get(method, 0.0) for u in users)
        rates[method] = values[nearest_rank(len(values), percentile) - 1] / hours
    return MethodRates(rates, len(users), f"each method's {label} over users")


def nearest_rank(count: int, percentile: float) -> int:
    """1-based rank of ``percentile`` in ``count`` sorted values: the first with that share of values at or below it."""
    return min(count, max(1, math.ceil(percentile / 100 * count - 1e-9)))


def rates_from_totals(requests_per_second: Mapping[str, float], active_users: float) -> MethodRates:
    """The average user's rates from a service's total per-method request rates and its active users.

    Args:
        requests_per_second: method -> requests per second of the whole service.
        active_users: users active at the same time.

    Returns:
        Calls per hour per method of the average user.

    Raises:
        BadRequestError: there are no users or a rate is negative or not finite.
    """
    if not (math.isfinite(active_users) and active_users > 0):
        raise BadRequestError(f"active users must be a number above 0, got {active_users}")
    bad = [m for m, rate in requests_per_second.items() if not (math.isfinite(rate) and rate >= 0)]
    if bad:
        raise BadRequestError(f"the rate of {bad[0]} is {requests_per_second[bad[0]]}, not a number of 0 or more")
    rates = {m: rate * 3600 / active_users for m, rate in sorted(requests_per_second.items())}
    return MethodRates(rates, active_users, "the average user")


def round_rate(rate: float) -> float:
    """``rate`` to ``SIGNIFICANT_DIGITS`` significant digits: 38.46 -> 38.5, 0.012345 -> 0.0123 (never to 0)."""
    if rate == 0 or not math.isfinite(rate):
        return rate
    digits = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(rate)))
    return round(rate, digits)


@dataclass(frozen=True)
class DerivedBehavior:
    """A derived behavior and every decision taken to make it."""

    document: BehaviorDocument
    mapped: Mapping[str, tuple[str, ...]]
    """action -> the methods whose rates it carries."""
    unmapped: Mapping[str, float]
    """method -> its rate per hour; no action of the base matches it."""
    base_actions: Mapping[str, str]
    """Base actions no method maps to -> what became of them."""
    capped: Mapping[str, float]
    """action -> its rate before it was capped at the schema's maximum."""
    rates: MethodRates


def method_matches(method: str, action: Action) -> bool:
    """Whether usage ``method`` names ``action``'s call (see the module docstring)."""
    verb, _, route = method.partition(" ")
    if verb in _HTTP_METHODS and route:
        if verb != action.method:
            return False
        method = route
    path = action.path.split("?", 1)[0]
    wanted = method.strip().lstrip("/")
    return bool(wanted) and (path.lstrip("/") == wanted or path.endswith("/" + wanted))


def derive_behavior(rates: MethodRates, base: BehaviorDocument, description: str) -> DerivedBehavior:
    """Put ``rates`` into ``base``'s actions (module docstring).

    Args:
        rates: per method, calls per hour.
        base: the behavior whose actions, websocket, channels and formations are reused.
        description: the derived behavior's description.

    Returns:
        The derived behavior, valid by construction, and what was mapped, left unmapped or dropped.

    Raises:
        UsageInvalidError: no method maps to an action of the base.
    """
    owner = {method: _owner(method, base) for method in rates.rates_per_hour}
    unmapped = {m: rate for m, rate in rates.rates_per_hour.items() if owner[m] is None}
    mapped: dict[str, list[str]] = {}
    for method, owner_name in owner.items():
        if owner_name is not None:
            mapped.setdefault(owner_name, []).append(method)
    if not mapped:
        paths = ", ".join(a.path for a in base.actions.values())
        raise UsageInvalidError(
            f"none of the {len(unmapped)} methods of the usage maps to an action of the base behavior "
            f"(its paths: {paths})",
            details={"unmapped": sorted(unmapped)},
        )
    in_formations = {step.action: name for name, f in base.formations.items() for step in f.steps}
    actions: dict[str, Any] = {}
    base_actions: dict[str, str] = {}
    capped: dict[str, float] = {}
    for name, action in base.actions.items():
        template = action.model_dump(mode="json", exclude_none=True, exclude={"rate_per_hour", "weight"})
        if name in mapped:
            rate = round_rate(sum(rates.rates_per_hour[m] for m in mapped[name]))
            if rate > MAX_RATE_PER_HOUR:
                capped[name], rate = rate, MAX_RATE_PER_HOUR
            actions[name] = {**template, "rate_per_hour": rate}
        elif name in in_formations:
            actions[name] = {**template, "rate_per_hour": 0}
            if action.effective_rate_per_hour > 0:
                base_actions[name] = f"kept at rate 0 (was {action.effective_rate_per_hour:g}): formation "
                base_actions[name] += f"{in_formations[name]} uses it"
        else:
            base_actions[name] = "left out: no method of the usage maps to it"
    document = BehaviorDocument.model_validate(
        {**base.model_dump(mode="json", exclude_none=True), "description": description, "actions": actions}
    )
    mapped_tuples = {action: tuple(methods) for action, methods in mapped.items()}
    return DerivedBehavior(document, mapped_tuples, unmapped, base_actions, capped, rates)


def _owner(method: str, base: BehaviorDocument) -> str | None:
    matches = [name for name, action in base.actions.items() if method_matches(method, action)]
    steady = [name for name in matches if base.actions[name].effective_rate_per_hour > 0]
    chosen = steady or matches
    return chosen[0] if chosen else None


def comment_text(text: str) -> str:
    """``text`` made safe for one YAML comment line: every non-printable character becomes ``?``."""
    return "".join(c if c.isprintable() else "?" for c in text)


def derivation_notes(derived: DerivedBehavior) -> list[str]:
    """What a person should know about ``derived``: unmapped methods, dropped or capped actions (one line each)."""
    notes = [
        f"unmapped method {method}: {round_rate(rate):g} calls per user per hour (no action of the base has a "
        "path ending with it; add one to the base to include it)"
        for method, rate in sorted(derived.unmapped.items())
    ]
    notes += [f"base action {name}: {what}" for name, what in derived.base_actions.items()]
    notes += [
        f"action {name}: no calls in the window, so rate 0 (it runs only in formations)"
        for name in derived.mapped
        if derived.document.actions[name].rate_per_hour == 0
    ]
    notes += [
        f"action {name}: {rate:g} calls per hour capped at the schema's maximum of {MAX_RATE_PER_HOUR:g}"
        for name, rate in derived.capped.items()
    ]
    return [comment_text(note) for note in notes]


def rate_summary(derived: DerivedBehavior, name: str) -> str:
    """One line naming the methods an action carries and their rates, e.g. ``chat.postMessage: 4.12/h``."""
    methods = derived.mapped.get(name, ())
    return comment_text(", ".join(f"{m}: {round_rate(derived.rates.rates_per_hour[m]):g}/h" for m in methods))


def rates_by_label(series: Iterable[VectorSample], label: str) -> dict[str, float]:
    """Per-method rates from an instant query's series, the method in label ``label``.

    Args:
        series: one series per method (e.g. ``sum by (method) (rate(api_requests_total[7d]))``).
        label: the label naming the method.

    Returns:
        method -> value.

    Raises:
        BadRequestError: no series, a series without the label, or two series of one method.
    """
    rates: dict[str, float] = {}
    for sample in series:
        method = sample.labels.get(label)
        if not method:
            raise BadRequestError(
                f"a series has no label {label!r} ({dict(sample.labels)}); aggregate with sum by ({label}) (...)"
            )
        if method in rates:
            raise BadRequestError(f"two series have {label}={method!r}; aggregate with sum by ({label}) (...)")
        rates[method] = sample.value
    if not rates:
        raise BadRequestError("the rate query returned no series")
    return rates


def single_value(series: Sequence[VectorSample], what: str) -> float:
    """The value of a query that must return exactly one series (e.g. active users).

    Raises:
        BadRequestError: it returned none or several.
    """
    if len(series) != 1:
        raise BadRequestError(f"the {what} query returned {len(series)} series; it must return one (e.g. sum(...))")
    return series[0].value
