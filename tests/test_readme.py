"""The README's first lines are the two commands a newcomer runs; CI runs the same test command."""

import re
import shlex
import sys
from pathlib import Path

import chess
import chess.engine
import pytest

from chessformer.engine.options import OPTIONS, find_option
from tests.engine.test_engine_subprocess import STOCKFISH

ROOT = Path(__file__).resolve().parent.parent


def test_readme_opens_with_install_and_test_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert "pip install" in block[0] and "chessformer" in block[0]
    assert "python -m pytest --slow" in block[1]
    assert lines.index("```bash") < 5
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "python -m pytest --slow" in ci


def test_readme_documents_every_option() -> None:
    text = (ROOT / "README.md").read_text()
    for spec in OPTIONS:
        assert f"`{spec.name}`" in text, spec.name


# Flags the README uses; each is documented by both tools (cutechess-cli --help, fastchess's man.md).
DOCUMENTED_FLAGS = {
    "-tournament",
    "-engine",
    "-each",
    "-openings",
    "-repeat",
    "-games",
    "-rounds",
    "-concurrency",
    "-pgnout",
}
ENGINE_KEYS = {"cutechess-cli": {"name", "cmd", "proto", "tc"}, "fastchess": {"name", "cmd", "tc"}}
FLAG_ARITY = {"-tournament": 1, "-repeat": 0, "-games": 1, "-rounds": 1, "-concurrency": 1}


def _tool_commands() -> list[tuple[str, list[str]]]:
    """Each README tool invocation, one per value of its ``for t in ...`` loop, as argv lists."""
    text = (ROOT / "README.md").read_text()
    out = []
    for block in re.findall(r"```bash\n(for t in [^\n]*; do\n.*?\ndone)\n```", text, re.S):
        header, body = block.split("\n", 1)
        values = header.removeprefix("for t in ").removesuffix("; do").split()
        command = body.rsplit("\ndone", 1)[0].replace("\\\n", " ")
        for t in values:
            argv = shlex.split(command.replace("$t", t))
            out.append((argv[0], argv))
    return out


def test_readme_tool_commands_use_documented_flags() -> None:
    commands = _tool_commands()
    assert {tool for tool, _ in commands} == {"cutechess-cli", "fastchess"} and len(commands) == 4
    for tool, argv in commands:
        i, engines = 1, 0
        while i < len(argv):
            flag = argv[i]
            assert flag in DOCUMENTED_FLAGS, f"{tool}: {flag}"
            i += 1
            if flag in FLAG_ARITY:
                i += FLAG_ARITY[flag]
                continue
            args = []
            while i < len(argv) and not argv[i].startswith("-"):
                args.append(argv[i])
                i += 1
            if flag in ("-engine", "-each"):
                engines += flag == "-engine"
                for kv in args:
                    key = kv.split("=", 1)[0]
                    assert key in ENGINE_KEYS[tool] or key.startswith("option."), f"{tool}: {kv}"
            elif flag == "-openings":
                fields = dict(kv.split("=", 1) for kv in args)
                assert (ROOT / fields["file"]).exists() and fields["file"].endswith("." + fields["format"])
            elif flag == "-pgnout":
                assert args and (tool == "cutechess-cli" or args[0].startswith("file="))
        assert engines == 3


def test_readme_tool_engines_accept_their_options() -> None:
    """Start every engine the README's tool commands name and set the options they set."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for _, argv in _tool_commands():
        for i, arg in enumerate(argv):
            if arg != "-engine":
                continue
            kv = {}
            for item in argv[i + 1 :]:
                if item.startswith("-"):
                    break
                k, v = item.split("=", 1)
                kv[k] = v
            options = tuple(sorted((k.removeprefix("option."), v) for k, v in kv.items() if k.startswith("option.")))
            seen.add((kv["cmd"], options))
    assert len(seen) == 4  # two temperatures and two Skill Levels
    for cmd, options in sorted(seen):
        if cmd == "dist/chessformer/chessformer":
            for name, value in options:  # string options (Temperature) are checked by the engine's own parser
                spec = find_option(name)
                assert spec is not None, name
                spec.convert(value)  # raises OptionError
            argv = [sys.executable, "-m", "chessformer.engine"]  # the built program is driven in test_distribution.py
        elif STOCKFISH is not None:
            argv = [STOCKFISH]
        else:
            pytest.skip("Stockfish not installed")
        with chess.engine.SimpleEngine.popen_uci(argv) as eng:
            eng.configure(dict(options))  # raises on an unknown option or a value out of range
            assert eng.play(chess.Board(), chess.engine.Limit(time=0.05)).move is not None
