"""``koipond tokens``: generate users' tokens through the pipeline, follow jobs, inspect and redrive the DLQ."""

from __future__ import annotations

import time

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from koipond.api.client import KeeperClient
from koipond.api.tokens import SHARD_USERS, DlqSummary, TokenJobOut, minted_users
from koipond_cli.context import console, emit, emit_rows, err_console, keeper_call, wire_time


@click.group("tokens")
def tokens_group() -> None:
    """Users' tokens: minted in batches by the token worker, stored encrypted in S3."""


def _user_range(_: click.Context, __: click.Parameter, value: str) -> tuple[int, int]:
    start, sep, end = value.partition("-")
    if not sep or not start.isdigit() or not end.isdigit() or int(end) <= int(start):
        raise click.BadParameter(f"expected START-END with START < END, e.g. 0-2000; got {value!r}")
    return int(start), int(end)


@tokens_group.command("generate")
@click.option("--workspace", required=True, help="Workspace whose users get tokens.")
@click.option(
    "--users",
    required=True,
    callback=_user_range,
    help=f"User index range START-END (END exclusive); rounded out to whole shards of {SHARD_USERS} users, "
    f"e.g. 0-250 mints 300 tokens, users 0-299.",
)
@click.option("--target", required=True, help="Service whose mint endpoint issues the tokens.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the job with a progress bar.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds to wait for the job.")
def generate(workspace: str, users: tuple[int, int], target: str, wait: bool, timeout: float) -> None:
    """Start a token job and follow it to the end.

    Tokens are minted and stored in whole shards of 100 users (one batch each), so a range that does not
    start and end on a multiple of 100 mints the whole shards around it: --users 0-250 mints 300 tokens.
    """
    rounded = _rounding(*users)
    if rounded:
        err_console.print(rounded)  # stderr, so --json output stays one JSON document
    with keeper_call() as keeper:
        job = keeper.create_token_job(workspace, target, *users)
        if wait:
            job = follow_token_job(keeper, job, timeout)
    emit(job, lambda j: _print_job(j, rounded))
    if job.status == "failed":
        raise click.ClickException(
            f"{job.batches_failed} batches failed ({job.last_error}); see `koipond tokens dlq`, then redrive"
        )


# A job is planning while the worker queues its batches (some may be minted already), then running.
UNFINISHED = ("planning", "running")


def follow_token_job(keeper: KeeperClient, job: TokenJobOut, timeout: float) -> TokenJobOut:
    """Poll a token job with a progress bar until it is done or failed (or ``timeout`` passes)."""
    columns = (TextColumn("minting {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    deadline = time.monotonic() + timeout
    users = f"{job.workspace} users {job.start}-{job.end}"
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(users, total=job.batches_total)
        while job.status in UNFINISHED and time.monotonic() < deadline:
            time.sleep(0.5)
            job = keeper.token_job(job.id)
            queued = job.batches_queued
            planning = f" ({queued:,} of {job.batches_total:,} batches queued)" if queued < job.batches_total else ""
            progress.update(task, completed=job.batches_done + job.batches_failed, description=users + planning)
    return job


def _rounding(start: int, end: int) -> str:
    """What the shards add to users ``[start, end)``, said in one line; "" when the range is whole shards."""
    minted = minted_users(start, end)
    if (minted.start, minted.stop) == (start, end):
        return ""
    return (
        f"users {start}-{end} round to whole shards of {SHARD_USERS}: "
        f"{len(minted):,} tokens, users {minted.start}-{minted.stop - 1}"
    )


def _print_job(job: TokenJobOut, rounded: str = "") -> None:
    queued = job.batches_queued
    planning = f" ({queued}/{job.batches_total} queued)" if queued < job.batches_total else ""
    console.print(
        f"{job.id}: {job.status}{planning}, {job.batches_done}/{job.batches_total} batches done, "
        f"{job.batches_failed} failed; workspace {job.workspace} users {job.start}-{job.end}"
        + (f" ({rounded})" if rounded else "")
    )


@tokens_group.command("status")
@click.argument("job_id", required=False)
def status(job_id: str | None) -> None:
    """One job's progress, or every job."""
    with keeper_call() as keeper:
        if job_id:
            emit(keeper.token_job(job_id), lambda j: _print_job(j, _rounding(j.start, j.end)))
            return
        jobs = keeper.token_jobs()
    emit_rows(jobs, ("job", "workspace", "users", "status", "done", "failed", "created"), _job_cells)


def _job_cells(j: TokenJobOut) -> tuple[str, ...]:
    progress = f"{j.batches_done}/{j.batches_total}"
    users = f"{j.start}-{j.end}"
    return j.id, j.workspace, users, j.status, progress, str(j.batches_failed), wire_time(j.created_at)[:19]


@tokens_group.command("dlq")
def dlq() -> None:
    """Batches in the dead-letter queue, with their last error."""
    with keeper_call() as keeper:
        summary = keeper.token_dlq()

    def human(s: DlqSummary) -> None:
        console.print(f"dead-letter queue depth: {s.depth}")
        if s.sample:
            table = Table("job", "workspace", "shard", "attempts", "last error")
            for b in s.sample:
                table.add_row(b.job_id, b.workspace, str(b.shard), str(b.attempts), b.last_error or "")
            console.print(table)

    emit(summary, human)


@tokens_group.command("redrive")
def redrive() -> None:
    """Move the dead-letter queue's batches back to the queue, to be minted again."""
    with keeper_call() as keeper:
        emit(keeper.token_redrive(), lambda r: console.print(f"redrive: {r.model_dump(mode='json')}"))
