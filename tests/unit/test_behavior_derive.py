"""``koipond behaviors derive``: usage exports read line by line, per-user rates, mapping onto a base, YAML out."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from koipond.behavior_files import load_behavior_file
from koipond.errors import BadRequestError, UsageInvalidError
from koipond.models.behavior import BehaviorDocument
from koipond.models.behavior_derive import (
    MethodRates,
    average_rates,
    derive_behavior,
    method_matches,
    nearest_rank,
    percentile_rates,
    rates_from_totals,
    round_rate,
)
from koipond.models.behavior_yaml import render_behavior_yaml
from koipond.models.usage import UsageTable, UsageWindow, read_usage_csv, read_usage_jsonl
from koipond.user_files import load_yaml
from koipond_cli.main import cli

BEHAVIORS = Path(__file__).resolve().parents[2] / "behaviors"
AVERAGE_USER = load_behavior_file(BEHAVIORS / "average_user.yaml")
ANNOUNCEMENT = load_behavior_file(BEHAVIORS / "org_wide_announcement.yaml")
WEEK = 7 * 86400
MAPPED = ["chat.postMessage", "conversations.history", "reactions.add", "users.info", "auth.test"]


def csv_table(text: str, window: float | None = WEEK) -> UsageTable:
    return read_usage_csv(io.StringIO(text), window)


def problems_of(error: pytest.ExceptionInfo[UsageInvalidError]) -> list[tuple[int, str | None]]:
    return [(p["line"], p["column"]) for p in error.value.details["problems"]]


def table_of(calls: dict[str, dict[str, float]], seconds: float = WEEK) -> UsageTable:
    return UsageTable(calls, UsageWindow(seconds), rows=sum(len(m) for m in calls.values()))


# --- reading exports


def test_csv_rows_of_one_user_and_method_add_up_and_extra_columns_are_named() -> None:
    table = csv_table("\ufeffuser,method,calls,team\nu1,chat.postMessage,3,a\nu1,chat.postMessage,4.5,a\nu2,x,0,b\n")
    assert table.calls == {"u1": {"chat.postMessage": 7.5}, "u2": {"x": 0.0}}
    assert (table.rows, table.ignored_columns, table.methods) == (3, ("team",), ("chat.postMessage", "x"))
    assert table.window == UsageWindow(WEEK)


def test_json_lines_take_numbers_as_strings_and_user_ids_as_numbers() -> None:
    lines = ['{"user": 17, "method": "users.info", "calls": "12"}\n', "\n", '{"user": "u2", "method": "a", "calls": 1}']
    table = read_usage_jsonl(lines, WEEK)
    assert table.calls == {"17": {"users.info": 12.0}, "u2": {"a": 1.0}}


def test_windows_stated_by_rows_that_tile_a_week_make_the_window() -> None:
    rows = "".join(
        f"u{day},m,1,2026-11-{21 + day:02d}T00:00:00Z,2026-11-{22 + day:02d}T00:00:00Z\n" for day in range(7)
    )
    table = csv_table("user,method,calls,window_start,window_end\n" + rows, window=None)
    assert table.window.seconds == WEEK
    assert table.window.describe().startswith("2026-11-21T00:00:00+00:00 to 2026-11-28T00:00:00+00:00 (7d)")


def test_a_time_without_offset_is_utc() -> None:
    table = csv_table("user,method,calls,window_start,window_end\nu,m,1,2026-11-21 00:00:00,2026-11-22\n", None)
    assert table.window.start is not None
    assert table.window.start.utcoffset() is not None
    assert table.window.seconds == 86400


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("user,calls\nu,1\n", (1, None), "missing column method"),
        ("user,method,calls\nu,m,-3\n", (2, "calls"), "negative"),
        ("user,method,calls\nu,m,1\nu,m,lots\n", (3, "calls"), "not a number: 'lots'"),
        ("user,method,calls\nu,m,nan\n", (2, "calls"), "not a finite number"),
        ("user,method,calls\n,m,1\n", (2, "user"), "is empty"),
        ("user,method,calls\nu,m\n", (2, None), "has 2 fields; the header has 3"),
        ("", (1, None), "the file is empty"),
        ("user,method,calls\n", (1, None), "no rows after its header"),
        ("user,method,calls,window_start\nu,m,1,2026-11-21\n", (1, None), "missing column window_end"),
    ],
)
def test_bad_csv_names_the_line_and_column(text: str, where: tuple[int, str | None], words: str) -> None:
    with pytest.raises(UsageInvalidError) as error:
        csv_table(text)
    assert problems_of(error)[0] == where
    assert words in error.value.message


@pytest.mark.parametrize(
    ("rows", "where", "words"),
    [
        ("u,m,1,2026-11-22,2026-11-21\n", (2, "window_end"), "the window is empty"),
        ("u,m,1,2026-11-21,2026-11-21\n", (2, "window_end"), "the window is empty"),
        ("u,m,1,yesterday,2026-11-21\n", (2, "window_start"), "not an ISO 8601 time"),
        (
            "u,m,1,2026-11-21,2026-11-22\nu,m,1,2026-11-23,2026-11-24\n",
            (3, "window_start"),
            "leaves a gap with the window of line 2",
        ),
        (
            "u,m,1,2026-11-21,2026-11-28\nv,m,1,2026-11-21,2026-11-22\n",
            (3, "window_start"),
            "overlaps the window of line 2",
        ),
    ],
)
def test_bad_windows_name_the_line_and_column(rows: str, where: tuple[int, str | None], words: str) -> None:
    with pytest.raises(UsageInvalidError) as error:
        csv_table("user,method,calls,window_start,window_end\n" + rows, None)
    assert problems_of(error)[0] == where
    assert words in error.value.message


def test_the_window_is_stated_once_exactly() -> None:
    with pytest.raises(UsageInvalidError, match="give it once"):
        csv_table("user,method,calls,window_start,window_end\nu,m,1,2026-11-21,2026-11-22\n", WEEK)
    with pytest.raises(UsageInvalidError, match="no window"):
        csv_table("user,method,calls\nu,m,1\n", None)
    with pytest.raises(UsageInvalidError, match="longer than 0s"):
        csv_table("user,method,calls\nu,m,1\n", 0)


@pytest.mark.parametrize(
    ("line", "where", "words"),
    [
        ("not json", (2, None), "not valid JSON"),
        ("[1, 2]", (2, None), "expected a JSON object"),
        ('{"user": "u", "calls": 1}', (2, "method"), "missing"),
        ('{"user": "u", "method": "m", "calls": true}', (2, "calls"), "not a number"),
        ('{"user": "u", "method": "m", "calls": -1}', (2, "calls"), "negative"),
    ],
)
def test_bad_json_lines_name_the_line(line: str, where: tuple[int, str | None], words: str) -> None:
    with pytest.raises(UsageInvalidError) as error:
        read_usage_jsonl(['{"user": "ok", "method": "m", "calls": 1}\n', line + "\n"], WEEK)
    assert problems_of(error)[0] == where
    assert words in error.value.message


def test_every_problem_is_reported_at_once_up_to_a_limit() -> None:
    text = "user,method,calls\n" + "u,m,x\n" * 30
    with pytest.raises(UsageInvalidError) as error:
        csv_table(text)
    lines = [line for line, _ in problems_of(error)]
    assert lines[:3] == [2, 3, 4]
    assert error.value.details["problems"][-1]["problem"] == "stopped reading here"


# --- rates


def test_the_average_user_counts_users_who_never_called_a_method_as_zero() -> None:
    rates = average_rates(table_of({"a": {"m": 168}, "b": {"n": 0}}))
    assert rates.rates_per_hour == {"m": pytest.approx(0.5), "n": 0.0}  # 168 calls / 2 users / 168 h
    assert rates.users == 2


def test_percentile_per_method_is_the_nearest_rank_over_users() -> None:
    calls = {f"u{i}": {"m": float(i)} for i in range(1, 11)} | {"idle": {"n": 1.0}}
    rates = percentile_rates(table_of(calls, 3600), 90)
    assert rates.rates_per_hour["m"] == 9  # 11 users: rank ceil(9.9) = 10 of [0, 1, ..., 10]
    assert rates.rates_per_hour["n"] == 0  # 10 of the 11 users never call it
    assert percentile_rates(table_of(calls, 3600), 100).rates_per_hour == {"m": 10, "n": 1}


def test_percentile_of_user_takes_one_users_own_mix() -> None:
    calls = {"light": {"m": 1.0}, "mid": {"m": 2.0, "n": 5.0}, "heavy": {"n": 100.0}}
    rates = percentile_rates(table_of(calls, 3600), 50, of="user")
    assert dict(rates.rates_per_hour) == {"m": 2.0, "n": 5.0}
    assert "user by total calls" in rates.statistic


def test_nearest_rank_bounds() -> None:
    assert [nearest_rank(10, p) for p in (0.1, 10, 50, 90, 99.9, 100)] == [1, 1, 5, 9, 10, 10]


def test_rates_from_prometheus_totals_are_per_active_user_per_hour() -> None:
    rates = rates_from_totals({"chat.postMessage": 2.0}, active_users=1800)
    assert rates.rates_per_hour == {"chat.postMessage": pytest.approx(4.0)}
    with pytest.raises(BadRequestError, match="active users"):
        rates_from_totals({"m": 1.0}, 0)


def test_rates_round_to_three_significant_digits_and_never_to_zero() -> None:
    assert [round_rate(x) for x in (38.46, 0.0123456, 1234.5, 1e-9, 0.0)] == [38.5, 0.0123, 1230.0, 1e-9, 0.0]


users = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=4),
    st.dictionaries(st.sampled_from([*MAPPED, "files.upload"]), st.integers(0, 10**6).map(float), min_size=1),
    min_size=1,
    max_size=12,
)


@given(calls=users, k=st.integers(1, 1000))
def test_scaling_every_count_by_k_scales_every_rate_by_k(calls: dict[str, dict[str, float]], k: int) -> None:
    scaled = {u: {m: c * k for m, c in by.items()} for u, by in calls.items()}
    for rates, scaled_rates in [
        (average_rates(table_of(calls)), average_rates(table_of(scaled))),
        (percentile_rates(table_of(calls), 90), percentile_rates(table_of(scaled), 90)),
    ]:
        for method, rate in rates.rates_per_hour.items():
            assert scaled_rates.rates_per_hour[method] == pytest.approx(rate * k)


@given(one=st.dictionaries(st.sampled_from(MAPPED), st.integers(0, 10**6).map(float), min_size=1), n=st.integers(1, 30))
def test_the_average_of_identical_users_is_each_users_rate(one: dict[str, float], n: int) -> None:
    table = table_of({f"u{i}": dict(one) for i in range(n)})
    expected = {m: c / (WEEK / 3600) for m, c in one.items()}
    for rates in (average_rates(table), percentile_rates(table, 37), percentile_rates(table, 90, of="user")):
        assert rates.rates_per_hour == pytest.approx(expected)


@given(calls=users, p=st.floats(1, 100))
def test_a_percentile_lies_between_the_least_and_the_busiest_user(calls: dict[str, dict[str, float]], p: float) -> None:
    table = table_of(calls)
    rates = percentile_rates(table, p)
    for method, rate in rates.rates_per_hour.items():
        values = [by.get(method, 0.0) / (WEEK / 3600) for by in calls.values()]
        assert min(values) <= rate <= max(values)


# --- mapping and the derived document


def test_a_method_maps_to_the_action_whose_path_ends_with_it() -> None:
    post = AVERAGE_USER.actions["post_message"]
    assert method_matches("chat.postMessage", post)
    assert method_matches("/api/chat.postMessage", post)
    assert method_matches("POST /api/chat.postMessage", post)
    assert not method_matches("GET /api/chat.postMessage", post)
    assert not method_matches("postMessage", post)  # a segment, not a suffix of one
    assert not method_matches("", post)


def test_derive_reuses_templates_lists_unmapped_methods_and_leaves_out_unused_actions() -> None:
    rates = MethodRates({"chat.postMessage": 4.123, "files.upload": 0.5}, 10, "the average user")
    derived = derive_behavior(rates, AVERAGE_USER, "d")
    assert list(derived.document.actions) == ["post_message"]
    post = derived.document.actions["post_message"]
    assert (post.rate_per_hour, post.body) == (4.12, AVERAGE_USER.actions["post_message"].body)
    assert derived.unmapped == {"files.upload": 0.5}
    assert set(derived.base_actions) == {"auth_test", "read_history", "add_reaction", "user_info"}
    assert derived.document.websocket == AVERAGE_USER.websocket


def test_a_formation_only_action_keeps_its_role_and_formations_are_kept() -> None:
    rates = MethodRates({"chat.postMessage": 4.0, "reactions.add": 1.0}, 10, "the average user")
    derived = derive_behavior(rates, ANNOUNCEMENT, "d")
    actions = derived.document.actions
    assert derived.mapped == {"post_message": ("chat.postMessage",), "add_reaction": ("reactions.add",)}
    assert actions["post_announcement"].rate_per_hour == 0
    assert actions["post_announcement"].name_for_metrics == "announcement_post"
    assert derived.document.formations == ANNOUNCEMENT.formations
    assert "read_history" not in actions


def test_a_rate_over_the_schema_maximum_is_capped_and_said() -> None:
    derived = derive_behavior(MethodRates({"users.info": 50_000.0}, 1, "x"), AVERAGE_USER, "d")
    assert derived.document.actions["user_info"].rate_per_hour == 36_000
    assert derived.capped == {"user_info": 50_000.0}


def test_usage_that_maps_to_no_action_is_refused() -> None:
    with pytest.raises(UsageInvalidError, match="none of the 1 methods"):
        derive_behavior(MethodRates({"files.upload": 1.0}, 1, "x"), AVERAGE_USER, "d")


@settings(max_examples=60)
@given(calls=users, base=st.sampled_from([AVERAGE_USER, ANNOUNCEMENT]), p=st.none() | st.floats(1, 100))
def test_a_derived_behavior_always_validates_and_its_yaml_loads_back_to_it(
    calls: dict[str, dict[str, float]], base: BehaviorDocument, p: float | None
) -> None:
    calls = {"anchor": {"chat.postMessage": 1.0}} | calls  # at least one method maps
    table = table_of(calls)
    rates = average_rates(table) if p is None else percentile_rates(table, p)
    derived = derive_behavior(rates, base, "derived")
    text = render_behavior_yaml(derived.document, ["a header", "line\nbreak"], {"post_message": "a\x1bcomment"})
    assert BehaviorDocument.model_validate(load_yaml(text)) == derived.document
    assert set(derived.unmapped) | {m for ms in derived.mapped.values() for m in ms} == set(table.methods)


# --- the command


def derive(tmp_path: Path, *args: str, input_text: str | None = None) -> Result:
    base = ["--base", str(BEHAVIORS / "average_user.yaml")]
    return CliRunner().invoke(cli, ["behaviors", "derive", *args, *base], input=input_text, terminal_width=200)


USAGE_CSV = """user,method,calls
U1,chat.postMessage,700
U1,conversations.history,3360
U2,chat.postMessage,0
U2,files.upload,14
"""


def test_derive_from_csv_writes_a_valid_behavior_with_a_header(tmp_path: Path) -> None:
    (tmp_path / "usage.csv").write_text(USAGE_CSV)
    out = tmp_path / "derived.yaml"
    result = derive(tmp_path, str(tmp_path / "usage.csv"), "--window", "7d", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert f"# source: {tmp_path / 'usage.csv'} (CSV, 4 rows)" in text
    assert "# window: 7d, as given with --window" in text
    assert "# unmapped method files.upload: 0.0417 calls per user per hour" in text
    document = load_behavior_file(out)
    assert document.actions["post_message"].rate_per_hour == round_rate(700 / 2 / 168)
    assert document.actions["read_history"].rate_per_hour == 10  # 3,360 / 2 users / 168 h
    assert "unmapped method files.upload" in result.stderr


def test_derive_from_json_lines_with_windows_prints_to_stdout(tmp_path: Path) -> None:
    rows = [
        {"user": "a", "method": "users.info", "calls": 48, "window_start": "2026-11-27", "window_end": "2026-11-28"},
        {"user": "b", "method": "users.info", "calls": "0", "window_start": "2026-11-27", "window_end": "2026-11-28"},
    ]
    (tmp_path / "usage.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = derive(tmp_path, str(tmp_path / "usage.jsonl"))
    assert result.exit_code == 0, result.output
    assert "# window: 2026-11-27T00:00:00+00:00 to 2026-11-28T00:00:00+00:00 (1d), stated by its rows" in result.stdout
    document = BehaviorDocument.model_validate(load_yaml(result.stdout))
    assert document.actions["user_info"].rate_per_hour == 1  # 48 calls / 2 users / 24 h


def test_derive_percentile_takes_the_busier_user(tmp_path: Path) -> None:
    (tmp_path / "usage.csv").write_text(USAGE_CSV)
    result = derive(tmp_path, str(tmp_path / "usage.csv"), "--window", "7d", "--percentile", "90", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["document"]["actions"]["read_history"]["rate_per_hour"] == 20  # U1: 3,360 / 168 h
    assert out["unmapped"] == {"files.upload": pytest.approx(14 / 168)}
    assert out["statistic"] == "each method's p90 over users"


@pytest.mark.parametrize(
    ("name", "content", "args", "words"),
    [
        ("u.csv", "user,method\nu,m\n", ["--window", "7d"], "line 1: missing column calls"),
        ("u.csv", "user,method,calls\nu,chat.postMessage,-1\n", ["--window", "7d"], "line 2, column calls: negative"),
        (
            "u.csv",
            "user,method,calls\nu,chat.postMessage,x\n",
            ["--window", "7d"],
            "line 2, column calls: not a number",
        ),
        ("u.csv", "user,method,calls\nu,chat.postMessage,1\n", [], "no window"),
        ("u.jsonl", '{"user": "u"}\n', ["--window", "7d"], "line 1: missing column method, calls"),
        (
            "u.jsonl",
            '{"user": "u", "method": "m", "calls": 1}\n{"user": "v"}\n',
            ["--window", "7d"],
            "line 2, column method",
        ),
        ("u.xlsx", "whatever", ["--window", "7d"], "unknown usage file format"),
        ("u.csv", "user,method,calls\nu,chat.postMessage,1\n", ["--window", "soon"], "not a duration"),
        ("u.csv", "user,method,calls\nu,files.upload,1\n", ["--window", "1d"], "none of the 1 methods"),
    ],
)
def test_derive_refuses_bad_input_with_exit_2_naming_the_line_and_writes_nothing(
    tmp_path: Path, name: str, content: str, args: list[str], words: str
) -> None:
    (tmp_path / name).write_text(content)
    out = tmp_path / "out.yaml"
    result = derive(tmp_path, str(tmp_path / name), *args, "-o", str(out))
    assert result.exit_code == 2, result.output
    assert words in result.stderr
    assert not out.exists()


def test_derive_reads_standard_input_with_a_format(tmp_path: Path) -> None:
    result = derive(tmp_path, "-", "--format", "csv", "--window", "1h", input_text="user,method,calls\nu,auth.test,3\n")
    assert result.exit_code == 0, result.output
    assert "rate_per_hour: 3" in result.stdout
    assert derive(tmp_path, "-", "--window", "1h", input_text="").exit_code == 2


def test_derive_percentile_needs_a_usage_export(tmp_path: Path) -> None:
    result = derive(
        tmp_path, "--prometheus", "http://127.0.0.1:9", "--query", "q", "--users", "5", "--percentile", "90"
    )
    assert result.exit_code == 2
    assert "per-user data" in result.stderr
