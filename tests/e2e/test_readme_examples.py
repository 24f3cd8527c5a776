"""The README's walkthrough runs as written: its marked shell blocks against a fresh ``koipond up``.

Every block after a ``<!-- readme-test: run -->`` line runs, command by command, in one bash (so the
variables it sets carry on), with only what a reader substitutes replaced: the Keeper URL and admin token
``koipond up`` printed, the target's URL (the README assumes the default ports) and ``lt-…``, the test id
``koipond test start`` printed. Every command must exit 0; where a ``# ->`` line shows the answer, the real
answer must match it (``…`` standing for anything), and a curl command without one must not answer an error.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO

MARKER = "<!-- readme-test: run -->"
ELLIPSIS = "…"
_END = "@@readme-test-end rc="


@dataclass(frozen=True)
class Command:
    text: str
    answer: str | None  # the README's "# ->" line, if any


def marked_blocks(readme: str) -> list[list[Command]]:
    """The commands of every fenced block that follows the marker line."""
    blocks = re.findall(re.escape(MARKER) + r"\n```(?:sh|console|bash)\n(.*?)\n```", readme, re.DOTALL)
    return [commands_of(block) for block in blocks]


def commands_of(block: str) -> list[Command]:
    commands: list[Command] = []
    pending = ""
    for line in block.splitlines():
        if line.startswith("# -> "):
            commands[-1] = Command(commands[-1].text, line.removeprefix("# -> "))
        elif pending or (line.strip() and not line.lstrip().startswith("#")):
            pending += line + "\n"
            if not line.endswith("\\"):
                commands.append(Command(pending.rstrip("\n"), None))
                pending = ""
    return commands


def matches(shown: str, output: str) -> bool:
    """Whether the real JSON answer reads as the shown one, ``…`` standing for anything."""
    compact = json.dumps(json.loads(output), separators=(",", ":"), ensure_ascii=False)
    pattern = ".*?".join(re.escape(piece) for piece in shown.split(ELLIPSIS))
    return re.fullmatch(pattern, compact, re.DOTALL) is not None


class Shell:
    """One bash, fed a command at a time, so that the variables a block sets carry on to the next."""

    def __init__(self, env: dict[str, str]) -> None:
        self._bash = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            env=env,
        )

    def run(self, command: str) -> tuple[int, str]:
        assert self._bash.stdin is not None
        assert self._bash.stdout is not None
        self._bash.stdin.write(f"{command}\nprintf '\\n{_END}%s\\n' $?\n")
        self._bash.stdin.flush()
        lines: list[str] = []
        while not (line := self._bash.stdout.readline()).startswith(_END):
            assert line, "bash exited:\n" + "".join(lines)
            lines.append(line)
        return int(line.removeprefix(_END)), "".join(lines).strip()

    def close(self) -> None:
        self._bash.kill()
        self._bash.wait(timeout=10)


@dataclass(frozen=True)
class UpPond:
    keeper_url: str
    token: str
    target_url: str


@pytest.fixture(scope="module")
def up_pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpPond]:
    """``koipond up`` as the README starts it (free ports instead of the defaults), and what it printed."""
    state = tmp_path_factory.mktemp("readme-pond")
    # One School rather than two: the walkthrough's answers do not depend on how many there are.
    ports = ["--aws-port", "0", "--keeper-port", "0", "--target-port", "0", "--prometheus-port", "0", "--schools", "1"]
    env = {key: value for key, value in os.environ.items() if key != "KOIPOND_ADMIN_TOKEN"}
    up = subprocess.Popen(
        [sys.executable, "-m", "koipond_cli.main", "up", "--ephemeral", "--state-dir", str(state), *ports],
        env={**env, "COLUMNS": "300"},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        printed = _printed_until_up(up)
        keeper = re.search(r"export KOIPOND_KEEPER_URL=(\S+)", printed)
        token = re.search(r"export KOIPOND_TOKEN=(\S+)", printed)
        target = re.search(r"^\s*target\s+(http://\S+)", printed, re.MULTILINE)
        assert keeper, printed
        assert token, printed
        assert target, printed
        yield UpPond(keeper.group(1), token.group(1), target.group(1))
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()


def _printed_until_up(up: subprocess.Popen[str]) -> str:
    assert up.stdout is not None
    lines: list[str] = []
    while not any("press Ctrl-C" in line for line in lines):
        line = up.stdout.readline()
        assert line, "koipond up exited early:\n" + "".join(lines)
        lines.append(line)
    return "".join(lines)


def test_readme_marks_the_walkthrough_blocks() -> None:
    blocks = marked_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 4, "the export, curl, bad-input and CLI blocks are marked"
    assert all(blocks), "a marked block has commands"


def test_readme_walkthrough_runs_as_written(up_pond: UpPond) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    substitutions = {
        "http://127.0.0.1:8700": up_pond.keeper_url,
        "<the admin token it printed>": up_pond.token,
        "http://127.0.0.1:8800": up_pond.target_url,
    }
    venv_bin = str(Path(sys.executable).parent)
    env = {key: value for key, value in os.environ.items() if not key.startswith("KOIPOND_")}
    shell = Shell({**env, "PATH": f"{venv_bin}:{env['PATH']}", "COLUMNS": "200"})
    try:
        for block in marked_blocks(readme):
            for command in block:
                text = command.text
                for placeholder, real in substitutions.items():
                    text = text.replace(placeholder, real)
                assert "lt-…" not in text, f"no `koipond test start` printed a test id before: {text}"
                rc, output = shell.run(text)
                assert rc == 0, f"{text}\nexited {rc}:\n{output}"
                _check_answer(command, text, output)
                if (started := re.search(r"\blt-[a-z0-9]+\b", output)) and "test start" in text:
                    substitutions["lt-…"] = started.group()
    finally:
        shell.close()


def _check_answer(command: Command, text: str, output: str) -> None:
    if command.answer is not None:
        assert matches(command.answer, output), (
            f"{text}\nthe README shows:\n{command.answer}\nbut it answered:\n{output}"
        )
    elif text.startswith("curl") and output:
        assert '"error"' not in output, f"{text}\nanswered an error:\n{output}"
