"""SLI settings and the PromQL the Keeper builds from them (never from a client's text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from koipond.models.deploys import DEFAULT_RULES, SliKind, SliRule, SliSettings
from koipond.services.sli_queries import calls_query, latency_query, promql_string, selector


def test_rules_left_out_take_the_defaults_and_given_thresholds_keep_the_rest_default() -> None:
    settings = SliSettings(rules=(SliRule(kind=SliKind.LATENCY_P99, min_increase_ms=100),))
    rules = {rule.kind: rule for rule in settings.effective_rules()}
    assert rules[SliKind.LATENCY_P99].min_increase_ms == 100
    assert rules[SliKind.LATENCY_P99].max_increase_percent == DEFAULT_RULES[SliKind.LATENCY_P99].max_increase_percent
    assert rules[SliKind.SUCCESS_RATE] == DEFAULT_RULES[SliKind.SUCCESS_RATE]


def test_a_threshold_of_another_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_drop_points applies to success_rate"):
        SliRule(kind=SliKind.LATENCY_P50, max_drop_points=1)


def test_queries_use_the_window_and_exact_matchers() -> None:
    assert calls_query({}, 20) == "sum by (method, status) (increase(koi_pond_school_web_api_calls_total[20s]))"
    assert latency_query(0.99, {"pond": "local"}, 900) == (
        "histogram_quantile(0.99, sum by (method, le) "
        '(increase(koi_pond_school_web_api_call_duration_seconds_bucket{pond="local"}[900s])))'
    )


@given(st.text(max_size=50))
def test_a_matcher_value_can_never_end_its_string_literal(value: str) -> None:
    literal = promql_string(value)
    inner = literal[1:-1]
    # Every quote inside is escaped: an unescaped one would end the literal and inject PromQL.
    unescaped = inner.replace("\\\\", "").replace('\\"', "")
    assert '"' not in unescaped
    assert "\n" not in literal


def test_selectors_sort_matchers_so_queries_are_stable() -> None:
    assert selector("m", {"b": "2", "a": "1"}) == 'm{a="1",b="2"}'
