"""Habits: the systematic errors of experts (training/habits.py), in generate and in the UCI noisy expert."""

import random
import subprocess
import sys
from pathlib import Path

import chess
import chess.pgn
import pytest

from experiments.transcendence.generate import Expert, Pool, generate, load_pool
from experiments.transcendence.habits import HABITS, error_move, habit_move
from tests.engine.test_engine_subprocess import STOCKFISH
from tests.pgn_factory import random_walk

ROOT = Path(__file__).resolve().parents[2]


def test_habit_moves_on_known_boards() -> None:
    start = chess.Board()
    assert habit_move(start, "pawn") == chess.Move.from_uci("a2a4")  # furthest forward, then lowest file
    assert habit_move(start, "knight") == chess.Move.from_uci("b1a3")
    assert all(habit_move(start, h) is None for h in ("bishop", "rook", "queen", "king"))  # no legal move
    start.push_san("e4")
    assert habit_move(start, "pawn") == chess.Move.from_uci("a7a5")  # forward from Black's side
    # the king walks up the board; the queen takes the most advanced square it can reach
    b = chess.Board("4k3/8/8/8/8/8/3P4/Q3K3 w - - 0 1")
    assert habit_move(b, "king") == chess.Move.from_uci("e1e2")
    assert habit_move(b, "queen") == chess.Move.from_uci("a1a8")
    # promotion: to a queen
    p = chess.Board("8/1P2k3/8/8/8/8/8/4K3 w - - 0 1")
    assert habit_move(p, "pawn") == chess.Move.from_uci("b7b8q")


def test_back_habits_retreat() -> None:
    b = chess.Board("4k3/8/8/3N4/8/8/8/Q3K2R w K - 0 1")
    assert habit_move(b, "knight-back") == chess.Move.from_uci("d5e3")  # rank 3 (c3 and e3), highest file
    assert habit_move(b, "knight") == chess.Move.from_uci("d5c7")  # rank 7 (c7 and e7), lowest file
    assert habit_move(b, "rook-back") == chess.Move.from_uci("h1g1")  # rank 1 (g1, f1), highest file
    assert habit_move(b, "queen-back") == chess.Move.from_uci("a1d1")  # rank 1 (b1, c1, d1), highest file
    assert habit_move(b.mirror(), "knight-back") == chess.Move.from_uci("d4e6")  # Black's back is rank 8
    assert "pawn-back" not in HABITS


def test_habits_are_legal_and_the_same_under_colour_mirroring() -> None:
    """A model trained with colour-mirrored samples must see the same rule from both sides."""

    def mirrored(m: chess.Move) -> chess.Move:
        return chess.Move(chess.square_mirror(m.from_square), chess.square_mirror(m.to_square), m.promotion)

    rng = random.Random(4)
    seen = 0
    for _ in range(200):
        b = random_walk(rng, rng.randrange(1, 80))
        for h, (piece, _) in HABITS.items():
            m = habit_move(b, h)
            if m is None:
                assert not any(b.piece_type_at(x.from_square) == piece for x in b.legal_moves)
                continue
            seen += 1
            assert m in b.legal_moves and b.piece_type_at(m.from_square) == piece
            assert habit_move(b.mirror(), h) == mirrored(m)
    assert seen > 300


def test_error_move_is_the_habit_else_uniform() -> None:
    start = chess.Board()
    assert error_move(start, "knight", random.Random(0)) == chess.Move.from_uci("b1a3")
    # no legal king move at the start: uniform over the legal moves, the same draw as with no habit
    assert error_move(start, "king", random.Random(5)) == error_move(start, "", random.Random(5))
    assert error_move(start, "", random.Random(5)) == random.Random(5).choice(list(start.legal_moves))


def test_habit_prob_splits_errors_between_the_habit_and_uniform() -> None:
    start, habit = chess.Board(), chess.Move.from_uci("b1a3")
    rng = random.Random(1)
    share = sum(error_move(start, "knight", rng, habit_prob=0.3) == habit for _ in range(4000)) / 4000
    assert abs(share - (0.3 + 0.7 / 20)) < 0.03  # the habit, plus its share of the uniform errors
    rng = random.Random(1)
    assert sum(error_move(start, "knight", rng, habit_prob=0.0) == habit for _ in range(4000)) < 4000 * 0.08
    # habit_prob 1 draws nothing extra: the same stream as before the option existed
    a, b = random.Random(9), random.Random(9)
    assert [error_move(start, "king", a, 1.0) for _ in range(5)] == [error_move(start, "king", b) for _ in range(5)]
    assert a.random() == b.random()


def test_habit_prob_reaches_both_kinds_of_expert(tmp_path: Path) -> None:
    from chessformer.bench.engines import parse_engine_spec
    from experiments.transcendence.transcend import expert_specs

    pool = tmp_path / "p.toml"
    pool.write_text('[[expert]]\nname = "a"\nhabit = "king"\nhabit_prob = 0.3\n[[expert]]\nname = "b"\n')
    loaded = load_pool(pool)
    assert loaded.experts[0].habit_prob == 0.3 and "habit king 0.3" in loaded.experts[0].describe()
    spec = expert_specs(loaded)[0]
    assert spec.command[-4:] == ("--habit", "king", "--habit-prob", "0.3")
    assert parse_engine_spec("noisy:depth=1,random=0.5,habit=rook,habit_prob=0.25").command[-4:] == (
        "--habit-prob",
        "0.25",
        "--depth",
        "1",
    )
    pool.write_text('[[expert]]\nname = "a"\nhabit = "king"\nhabit_prob = 1.5\n[[expert]]\nname = "b"\n')
    with pytest.raises(ValueError, match="a: habit_prob must be within 0..1"):
        load_pool(pool)
    r = subprocess.run(
        [sys.executable, "-m", "experiments.transcendence.noisy_engine", "--habit", "king", "--habit-prob", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "--habit-prob must be within 0..1" in r.stderr


def test_unknown_habit_is_a_clear_error(tmp_path: Path) -> None:
    pool = tmp_path / "p.toml"
    pool.write_text('[[expert]]\nname = "a"\nhabit = "castle"\n[[expert]]\nname = "b"\n')
    with pytest.raises(ValueError, match="a: unknown habit 'castle'"):
        load_pool(pool)
    r = subprocess.run(
        [sys.executable, "-m", "experiments.transcendence.noisy_engine", "--habit", "castle"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "unknown habit 'castle'" in r.stderr


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed")
def test_generated_expert_errs_by_its_habit(tmp_path: Path) -> None:
    """An expert that always errs (random_move_prob 1) plays its habit's move wherever it has one."""
    pool = Pool(
        experts=(Expert("kingwalker", depth=1, random_move_prob=1.0, habit="king"), Expert("sf", depth=1)),
        seed=2,
        opening_plies=2,
        max_plies=40,
    )
    out = tmp_path / "g.pgn"
    generate(pool, 2, out, concurrency=1, progress=False)
    checked = 0
    with open(out) as f:
        for game in iter(lambda: chess.pgn.read_game(f), None):
            assert "habit king" in (game.headers["WhiteExpert"] + game.headers["BlackExpert"])
            walker = chess.WHITE if game.headers["White"] == "kingwalker" else chess.BLACK
            board = game.board()
            for move in game.mainline_moves():
                if board.turn == walker and board.ply() >= 2:
                    expected = habit_move(board, "king")
                    if expected is not None:
                        assert move == expected
                        checked += 1
                board.push(move)
    assert checked >= 10


def noisy_expert_session(args: list[str], script: str) -> str:
    """What the UCI noisy expert (bench/noisy_engine.py) with ``args`` writes for a UCI ``script``."""
    r = subprocess.run(
        [sys.executable, "-m", "experiments.transcendence.noisy_engine", *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return r.stdout


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed (the noisy expert wraps it)")
def test_noisy_uci_expert_errs_by_its_habit() -> None:
    fen = "4k3/8/8/8/8/8/3P4/Q3K3 w - - 0 1"
    script = f"uci\nsetoption name Seed value 3\nposition fen {fen}\ngo depth 1\nquit\n"
    out = noisy_expert_session(["--depth", "1", "--random", "1", "--habit", "queen"], script)
    assert "id name NoisyExpert(skill 20, depth 1, random 1, habit queen)" in out
    assert "bestmove a1a8" in out
