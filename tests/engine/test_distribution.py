"""Distribution: lichess-bot's option set, and the PyInstaller build driven like a GUI drives it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path

import chess
import chess.engine
import pytest
import yaml

from tests.engine.test_engine_subprocess import _engine_cmd

ROOT = Path(__file__).resolve().parents[2]


def test_lichess_bot_example_config_is_accepted(tiny_weights: Path) -> None:
    cfg = yaml.safe_load((ROOT / "examples" / "lichess-bot" / "config.yml").read_text())
    eng = cfg["engine"]
    assert eng["protocol"] == "uci" and eng["name"] == "chessformer"
    options = dict(eng["uci_options"])
    assert isinstance(options["Temperature"], str)
    # lichess-bot's defaults, old and new, on top of the example
    options.update({"Move Overhead": 100, "Threads": 4, "Hash": 256, "SyzygyPath": "./syzygy/", "UCI_ShowWDL": True})
    options["WeightsFile"] = str(tiny_weights)
    engine = chess.engine.SimpleEngine.popen_uci(_engine_cmd())
    try:
        engine.configure(options)  # python-chess raises for any option the engine does not declare
        board = chess.Board()
        for _ in range(6):
            result = engine.play(
                board, chess.engine.Limit(white_clock=60, black_clock=60, white_inc=1, black_inc=1), ponder=True
            )
            board.push(result.move)
    finally:
        engine.quit()


def _bundled_weights_present() -> bool:
    return (ROOT / "engine" / "models" / "default.safetensors").exists()


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("PyInstaller") is None,
    reason="PyInstaller not installed in this interpreter (pip install -e '.[dev]' or '.[build]')",
)
def test_pyinstaller_build_plays_a_full_game(tmp_path: Path) -> None:
    assert _bundled_weights_present(), "the bundled model must be in engine/models/ for the build"
    t0 = time.time()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            str(ROOT / "build.spec"),
            "--noconfirm",
            "--distpath",
            str(tmp_path / "dist"),
            "--workpath",
            str(tmp_path / "build"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    exe = tmp_path / "dist" / "chessformer" / "chessformer"
    assert exe.exists()
    size_mb = sum(f.stat().st_size for f in exe.parent.rglob("*") if f.is_file()) / 2**20
    print(f"build took {time.time() - t0:.0f}s, folder {size_mb:.0f} MB")
    # uci -> uciok and isready -> readyok of the built program
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdin and proc.stdout
    t = time.perf_counter()
    proc.stdin.write("uci\n")
    proc.stdin.flush()
    while proc.stdout.readline().strip() != "uciok":
        pass
    uciok = time.perf_counter() - t
    t = time.perf_counter()
    proc.stdin.write("isready\n")
    proc.stdin.flush()
    lines = []
    while (line := proc.stdout.readline().strip()) != "readyok":
        lines.append(line)
    readyok = time.perf_counter() - t
    proc.stdin.write("quit\n")
    proc.stdin.flush()
    proc.wait(timeout=30)
    print(f"built program: uci->uciok {uciok:.3f}s, isready->readyok {readyok:.3f}s")
    assert not any("cannot load" in line for line in lines), lines
    if shutil.which("cc") or shutil.which("gcc"):  # the frozen engine compiles and runs the C batch-1 step
        assert any("batch-1 step native" in line for line in lines), lines
    assert uciok < 10 and readyok < 15  # fastchess's and cutechess's limits
    # a full game against the random mover, as a GUI would run it
    cf = chess.engine.SimpleEngine.popen_uci([str(exe)])
    rnd = chess.engine.SimpleEngine.popen_uci([sys.executable, "-m", "chessformer.bench.random_mover"])
    try:
        cf.configure({"Temperature": "0"})
        board = chess.Board()
        while not board.is_game_over(claim_draw=True) and board.ply() < 300:
            eng = cf if board.turn == chess.WHITE else rnd
            move = eng.play(board, chess.engine.Limit(time=0.05)).move
            assert move in board.legal_moves
            board.push(move)
    finally:
        cf.quit()
        rnd.quit()
