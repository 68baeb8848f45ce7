"""``python -m chessformer.bench --help`` and ``python -m chessformer.training --help``: every command, one line each, exit 0."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["chessformer.bench", "chessformer.training"])
def test_help_lists_every_command_and_exits_0(package: str) -> None:
    mod = __import__(f"{package}.__main__", fromlist=["COMMANDS"])
    r = subprocess.run([sys.executable, "-m", package, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for name, command in mod.COMMANDS.items():
        assert f"  {name}" in r.stdout and command.summary in r.stdout
    bare = subprocess.run([sys.executable, "-m", package], capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2 and "commands:" in bare.stderr
    wrong = subprocess.run([sys.executable, "-m", package, "nope"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "unknown command 'nope'" in wrong.stderr


@pytest.mark.parametrize("package", ["chessformer.bench", "chessformer.training"])
def test_every_command_has_its_own_help(package: str) -> None:
    mod = __import__(f"{package}.__main__", fromlist=["COMMANDS"])
    for name in mod.COMMANDS:
        r = subprocess.run([sys.executable, "-m", package, name, "--help"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "usage:" in r.stdout, (name, r.stderr[-300:])
