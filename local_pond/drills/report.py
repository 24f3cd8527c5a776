"""The soak's report: rich tables on the terminal, and the same as JSON for machines."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from local_pond.drills.schedule import FAULT_KINDS, OPERATION_KINDS


def print_report(summary: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    console.print(_faults(summary))
    console.print(_operations(summary))
    console.print(_retries(summary))
    console.print(_checks(summary))
    for violation in summary["violations"]:
        console.print(f"[red]violation[/red] t={violation['at']:.1f}s {violation['kind']}: {violation['detail']}")
    worst = summary["worst_stop_latency_seconds"]
    worst_text = "no stop measured" if worst is None else f"{worst:.2f} s"
    colour = "green" if not summary["violations"] else "red"
    console.print(
        f"[{colour}]violations: {len(summary['violations'])}[/{colour}]   "
        f"worst stop latency: {worst_text} (bound {summary['settings']['estop_bound_seconds']:.1f} s)   "
        f"seed {summary['seed']}   {summary['runtime_seconds']:.0f} s"
    )


def _faults(summary: dict[str, Any]) -> Table:
    table = Table(title="Faults injected")
    table.add_column("fault")
    table.add_column("injected", justify="right")
    table.add_column("not injected because")
    for kind in FAULT_KINDS:
        table.add_row(kind, str(summary["faults"].get(kind, 0)), summary["skipped_faults"].get(kind, ""))
    return table


def _operations(summary: dict[str, Any]) -> Table:
    table = Table(title="Operations through the Keeper API")
    table.add_column("operation")
    table.add_column("made", justify="right")
    for kind in (*OPERATION_KINDS, "token_job"):
        table.add_row(kind, str(summary["operations"].get(kind, 0)))
    return table


def _retries(summary: dict[str, Any]) -> Table:
    table = Table(title="Keeper calls retried while a component was down")
    table.add_column("call")
    table.add_column("retries", justify="right")
    for what, count in sorted(summary["retries"].items()):
        table.add_row(what, str(count))
    table.add_row("(all)", str(sum(summary["retries"].values())))
    return table


def _checks(summary: dict[str, Any]) -> Table:
    violations = Counter(v["kind"] for v in summary["violations"])
    table = Table(title="Invariant checks")
    table.add_column("invariant")
    table.add_column("checks", justify="right")
    table.add_column("violations", justify="right")
    for kind in sorted(set(summary["checks"]) | set(violations)):
        count = violations.get(kind, 0)
        table.add_row(kind, f"{summary['checks'].get(kind, 0):,}", f"[red]{count}[/red]" if count else "0")
    return table


def write_report(summary: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
