"""One dispatcher for the ``python -m PACKAGE COMMAND`` entry points of training/ and bench/.

``--help`` (or ``-h``) lists every command with its one-line description and exits 0; no
command or an unknown one prints the same list to stderr and exits 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A subcommand: what it does in one line, and its entry point (argv after the name -> exit code)."""

    summary: str
    run: Callable[[list[str]], int]


def lazy_cli(module: str) -> Callable[[list[str]], int]:
    """The ``cli`` of ``module``, imported only when the command runs (``--help`` loads no torch)."""

    def run(argv: list[str]) -> int:
        import importlib

        return int(importlib.import_module(module).cli(argv))

    return run


def command_list(prog: str, commands: Mapping[str, Command]) -> str:
    """The usage line and one line per command."""
    width = max(len(n) for n in commands)
    lines = [f"usage: {prog} COMMAND [--help] ...", "", "commands:"]
    lines += [f"  {name:<{width}}  {c.summary}" for name, c in commands.items()]
    lines += ["", f"{prog} COMMAND --help shows a command's options."]
    return "\n".join(lines)


def dispatch(prog: str, commands: Mapping[str, Command], argv: list[str] | None = None) -> int:
    """Run the command named by argv[0]."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(command_list(prog, commands))
        return 0
    if not argv or argv[0] not in commands:
        if argv:
            print(f"{prog}: unknown command {argv[0]!r}", file=sys.stderr)
        print(command_list(prog, commands), file=sys.stderr)
        return 2
    return commands[argv[0]].run(argv[1:])
