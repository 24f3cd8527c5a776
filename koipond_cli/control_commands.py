"""``koipond estop``, ``koipond keys`` and ``koipond schools`` (``koipond behaviors``: behaviors_commands)."""

from __future__ import annotations

import click
from rich.table import Table

from koipond.api.estop import EmergencyStopOut
from koipond.api.keys import KeyOut
from koipond.api.schools import SchoolOut
from koipond_cli.context import console, emit, emit_rows, keeper_call, wire_time, wire_time_or_empty


@click.group("estop")
def estop_group() -> None:
    """The emergency stop: halt all load at once."""


def _print_estop(state: EmergencyStopOut) -> None:
    if state.active:
        since = "None" if state.activated_at is None else wire_time(state.activated_at)
        console.print(
            f"[bold white on red] EMERGENCY STOP ACTIVE [/] since {since} by {state.activated_by}: {state.reason}"
        )
    else:
        console.print(
            "[green]emergency stop not active[/]"
            + (f" (lifted {wire_time(state.lifted_at)} by {state.lifted_by})" if state.lifted_at else "")
        )
    if not state.changed:
        console.print("(it already was; nothing changed)")
    if state.history:
        table = Table("when", "event", "by", "why", title="history (newest first)")
        for e in state.history:
            table.add_row(wire_time(e.at)[:19].replace("T", " "), e.kind, e.actor, e.reason or "")
        console.print(table)


@estop_group.command("on")
@click.option("--reason", required=True, help="Why; shown to everyone and kept in history.")
def estop_on(reason: str) -> None:
    """Pull the emergency stop: every test stops, new tests are refused. Any authenticated person may."""
    with keeper_call() as keeper:
        emit(keeper.estop_on(reason), _print_estop)


@estop_group.command("off")
@click.option("--reason", help="Why it is safe again; kept in history.")
def estop_off(reason: str | None) -> None:
    """Lift the emergency stop (operators). Stopped tests stay stopped until resumed."""
    with keeper_call() as keeper:
        emit(keeper.estop_off(reason), _print_estop)


@estop_group.command("status")
def estop_status() -> None:
    """Whether the emergency stop is active, and its history."""
    with keeper_call() as keeper:
        emit(keeper.estop_status(), _print_estop)


@click.group("keys")
def keys_group() -> None:
    """API keys: who am I (any key); create, list, revoke (admins)."""


@keys_group.command("create")
@click.option("--name", required=True, help="Who or what will use it; recorded as the actor.")
@click.option(
    "--role",
    type=click.Choice(["viewer", "operator", "admin", "school"]),
    required=True,
    help="viewer reads; operator runs tests; admin manages keys; school only polls.",
)
@click.option("--school-id", help="Role school: the one School the key may poll as, e.g. s-7.")
@click.option("--school-prefix", help="Role school: a fleet; the key may poll as every School id with this start.")
def keys_create(name: str, role: str, school_id: str | None, school_prefix: str | None) -> None:
    """Create a key; its token is printed once and never stored.

    A school key is bound to its Schools: --school-id for one, --school-prefix for a fleet
    (e.g. eks-prod-). Keys of other roles take neither.
    """
    if role == "school" and (school_id is None) == (school_prefix is None):
        raise click.UsageError("--role school needs exactly one of --school-id ID or --school-prefix PREFIX")
    if role != "school" and (school_id is not None or school_prefix is not None):
        raise click.UsageError(f"--school-id and --school-prefix are for --role school only, not {role}")
    with keeper_call() as keeper:
        emit(
            keeper.create_key(name, role, school_id=school_id, school_prefix=school_prefix),
            lambda k: console.print(
                f"created {k.id} ({k.role}{_binding(k)}) for {k.name}\ntoken (shown once): {k.token}"
            ),
        )


def _binding(key: KeyOut) -> str:
    """The Schools a school key may act as: ", School s-7" or ", Schools eks-prod-*"; "" for other keys."""
    if key.school_id:
        return f", School {key.school_id}"
    if key.school_prefix:
        return f", Schools {key.school_prefix}*"
    return ""


@keys_group.command("whoami")
def keys_whoami() -> None:
    """Show the key your KOIPOND_TOKEN belongs to: its id, name and role (any key may ask)."""
    with keeper_call() as keeper:
        emit(keeper.whoami(), lambda k: console.print(f"{k.name} ({k.role}), key {k.key_id}"))


@keys_group.command("list")
def keys_list() -> None:
    """List keys (never their tokens)."""
    with keeper_call() as keeper:
        keys = keeper.list_keys()
    emit_rows(keys, ("id", "name", "role", "created", "by", "revoked"), _key_cells)


def _key_cells(k: KeyOut) -> tuple[str, ...]:
    created, revoked = wire_time(k.created_at)[:19], wire_time_or_empty(k.revoked_at)[:19]
    return k.id, k.name, k.role + _binding(k), created, k.created_by, revoked


@keys_group.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key; requests with its token fail from now on."""
    with keeper_call() as keeper:
        emit(keeper.revoke_key(key_id), lambda k: console.print(f"revoked {k.id} ({k.name})"))


@click.command("schools")
def schools_command() -> None:
    """Known Schools: live or not, capacity, assigned koi, last poll."""
    with keeper_call() as keeper:
        schools = keeper.list_schools()
    columns = ("school", "live", "capacity", "assigned", "last poll")
    emit_rows(schools, columns, _school_cells, empty="no School has polled yet")


def _school_cells(s: SchoolOut) -> tuple[str, ...]:
    live = "yes" if s.live else "[red]no[/]"
    return s.id, live, f"{s.capacity:,}", f"{s.assigned_koi:,}", wire_time(s.last_poll_at)[:19]
