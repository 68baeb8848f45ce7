"""The real ``chessformer`` program driven through python-chess, as GUIs and lichess-bot drive it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import chess
import chess.engine
import pytest

STOCKFISH = shutil.which("stockfish") or ("/usr/games/stockfish" if Path("/usr/games/stockfish").exists() else None)


def _engine_cmd() -> list[str]:
    exe = shutil.which("chessformer")
    return [exe] if exe else [sys.executable, "-m", "chessformer.engine"]


@pytest.fixture
def cf(tiny_weights: Path):
    eng = chess.engine.SimpleEngine.popen_uci(_engine_cmd(), timeout=60)
    eng.configure({"WeightsFile": str(tiny_weights), "Temperature": "0.5", "Seed": 1})
    yield eng
    eng.quit()


def _play(
    white: chess.engine.SimpleEngine, black: chess.engine.SimpleEngine, board: chess.Board, max_plies: int
) -> chess.Board:
    engines = {chess.WHITE: white, chess.BLACK: black}
    while not board.is_game_over(claim_draw=True) and board.ply() < max_plies:
        result = engines[board.turn].play(board, chess.engine.Limit(time=0.05), ponder=True)
        assert result.move in board.legal_moves, (result.move, board.fen())
        board.push(result.move)
    return board


def test_self_play_game_with_ponder(cf: chess.engine.SimpleEngine, tiny_weights: Path) -> None:
    other = chess.engine.SimpleEngine.popen_uci(_engine_cmd(), timeout=60)
    other.configure({"WeightsFile": str(tiny_weights), "Temperature": "1.0"})
    try:
        board = _play(cf, other, chess.Board(), max_plies=80)
    finally:
        other.quit()
    assert board.ply() > 10


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed (apt-get install stockfish; .ci/run does)")
def test_game_against_stockfish_with_ponder(cf: chess.engine.SimpleEngine) -> None:
    sf = chess.engine.SimpleEngine.popen_uci(STOCKFISH)
    sf.configure({"Skill Level": 0})
    try:
        board = _play(cf, sf, chess.Board(), max_plies=400)
    finally:
        sf.quit()
    assert board.is_game_over(claim_draw=True) or board.ply() == 400


def test_game_longer_than_context_window(cf: chess.engine.SimpleEngine) -> None:
    # the tiny model's window is 32 tokens: 100 plies re-anchor three times
    board = _play(cf, cf, chess.Board("8/8/3k4/8/8/3K4/8/R6r w - - 0 1"), max_plies=100)
    assert board.ply() > 40 or board.is_game_over(claim_draw=True)


def test_analyse_multipv_and_fen(cf: chess.engine.SimpleEngine) -> None:
    board = chess.Board("r1bqkbnr/pppp1ppp/2n5/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 2 3")
    infos = cf.analyse(board, chess.engine.Limit(depth=1), multipv=3)
    assert len(infos) == 3
    assert all(i["pv"][0] in board.legal_moves for i in infos)
    assert infos[0]["depth"] == 1 and "score" in infos[0]


def test_go_infinite_then_stop(cf: chess.engine.SimpleEngine) -> None:
    with cf.analysis(chess.Board()) as analysis:
        info = analysis.next()
        assert info is not None
        analysis.stop()
        best = analysis.wait()
    assert best.move in chess.Board().legal_moves


def test_uci_to_uciok_is_fast() -> None:
    import subprocess
    import time

    t0 = time.perf_counter()
    p = subprocess.run(_engine_cmd(), input="uci\nquit\n", capture_output=True, text=True, timeout=30)
    elapsed = time.perf_counter() - t0
    assert "uciok" in p.stdout
    # nothing on stdout but UCI lines
    assert all(line.split()[0] in ("id", "option", "uciok") for line in p.stdout.splitlines())
    print(f"uci+quit wall time {elapsed:.3f}s")
    # and uciok comes before torch is imported
    code = (
        "import sys; from chessformer.engine.uci import UciEngine; out = []; e = UciEngine(out.append); e.handle('uci');"
        "assert out[-1] == 'uciok'; print('torch' in sys.modules)"
    )
    check = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert check.stdout.strip() == "False", check.stderr


def test_the_installed_engine_finds_its_bundled_model_outside_the_checkout(tmp_path: Path) -> None:
    """Run from elsewhere, no checkout folder is importable: the model must come from chessformer.engine's data."""
    if not (Path(__file__).resolve().parents[2] / "engine" / "models" / "default.safetensors").exists():
        pytest.skip("no bundled model in this checkout")
    r = subprocess.run(
        [sys.executable, "-m", "chessformer.engine"],
        input="isready\nposition startpos\ngo depth 1\nquit\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert "cannot load model" not in r.stdout, r.stdout
    best = [line for line in r.stdout.splitlines() if line.startswith("bestmove")]
    assert best and best[0] != "bestmove 0000", r.stdout[-500:]
