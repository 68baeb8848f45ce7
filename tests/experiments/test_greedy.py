"""The greedy rule (training/greedy.py) and the experts built on it: in generate and in the UCI noisy expert."""

import random
import subprocess
import sys
from pathlib import Path

import chess
import chess.pgn
import pytest

from experiments.transcendence.generate import Expert, Pool, generate, load_pool
from experiments.transcendence.greedy import greedy_move
from experiments.transcendence.habits import error_move, habit_move
from tests.experiments.test_habits import noisy_expert_session
from tests.pgn_factory import random_walk


def _best(fen: str) -> str:
    return greedy_move(chess.Board(fen)).uci()


def test_greedy_mates_before_taking_material() -> None:
    # Ra8 mates on the back rank; Nxf4 wins the queen (the e5 pawn then takes the knight: +6)
    assert _best("6k1/5ppp/8/4p3/5q2/8/4N3/R5K1 w - - 0 1") == "a1a8"
    # without the mate (the h7 pawn gone: the king escapes), the queen
    assert _best("6k1/5pp1/8/4p3/5q2/8/4N3/R5K1 w - - 0 1") == "e2f4"


def test_greedy_takes_free_material_and_not_defended_pawns() -> None:
    # bxa4 wins a knight; Qxd5 would lose the queen to exd5 (1 - 9)
    assert _best("4k3/8/4p3/3p4/n7/1P6/8/3QK3 w - - 0 1") == "b3a4"
    # without the knight: a quiet move, the one that advances furthest (Qh5, four ranks)
    assert _best("4k3/8/4p3/3p4/8/1P6/8/3QK3 w - - 0 1") == "d1h5"


def test_greedy_does_not_move_to_an_attacked_square() -> None:
    # Ra8 would advance furthest, but the e4 bishop takes it there: Ra7
    assert _best("4k3/8/8/8/4b3/8/8/R3K3 w - - 0 1") == "a1a7"
    # the same seen from Black's side: ranks count from the mover
    assert _best("r3k3/8/8/4B3/8/8/8/4K3 b - - 0 1") == "a8a2"


def test_greedy_is_legal_deterministic_and_the_same_under_colour_mirroring() -> None:
    def mirrored(m: chess.Move) -> chess.Move:
        return chess.Move(chess.square_mirror(m.from_square), chess.square_mirror(m.to_square), m.promotion)

    boards = [random_walk(random.Random(seed), plies=plies) for seed in range(40) for plies in range(0, 120, 4)]
    boards = [b for b in boards if not b.is_game_over()]
    for b in boards:
        m = greedy_move(b)
        assert m in b.legal_moves and greedy_move(b) == m
        assert greedy_move(b.mirror()) == mirrored(m)
    assert len(boards) > 1000
    with pytest.raises(ValueError, match="no legal move"):
        greedy_move(chess.Board("7k/6Q1/6K1/8/8/8/8/8 b - - 0 1"))  # stalemate


def test_clean_fallback_errs_only_by_the_habit() -> None:
    start = chess.Board()
    assert error_move(start, "knight", random.Random(0), fallback="clean") == chess.Move.from_uci("b1a3")
    assert error_move(start, "king", random.Random(0), fallback="clean") is None  # no king move: its own move
    with pytest.raises(ValueError, match="unknown habit fallback"):
        error_move(start, "king", random.Random(0), fallback="stockfish")


def test_greedy_experts_play_the_rule_or_their_habit(tmp_path: Path) -> None:
    """Without Stockfish: every move of a greedy habit expert is its habit's move or the rule's,
    and the rule's wherever the habit has no move."""
    pool = Pool(
        experts=(
            Expert("g-king", clean="greedy", random_move_prob=0.7, habit="king", habit_fallback="clean"),
            Expert("greedy", clean="greedy"),
        ),
        seed=3,
        opening_plies=2,
        max_plies=80,
    )
    out = tmp_path / "g.pgn"
    assert generate(pool, 4, out, concurrency=1, progress=False) == 4
    habit = rule = no_habit = 0
    with open(out) as f:
        for game in iter(lambda: chess.pgn.read_game(f), None):
            walker = chess.WHITE if game.headers["White"] == "g-king" else chess.BLACK
            assert (
                "greedy rule, random 0.7, habit king, else clean"
                in game.headers["WhiteExpert" if walker else "BlackExpert"]
            )
            board = game.board()
            for move in game.mainline_moves():
                if board.ply() >= 2:
                    own, walk = greedy_move(board), habit_move(board, "king")
                    if board.turn != walker:
                        assert move == own  # the rule alone
                    else:
                        assert move in (own, walk)
                        habit += move == walk != own
                        rule += move == own != walk
                        no_habit += walk is None
                board.push(move)
    assert habit > 20 and rule > 5 and no_habit > 0  # the last: moves where only the rule could play
    # with concurrency, an engine-free pool plays in worker processes (not GIL-bound threads): the
    # same games in the same order, and a resumed run adds only the missing ones
    procs = tmp_path / "p.pgn"
    assert generate(pool, 3, procs, concurrency=2, progress=False) == 3
    assert generate(pool, 4, procs, concurrency=2, progress=False) == 1
    assert procs.read_text() == out.read_text()


def test_greedy_options_reach_both_kinds_of_expert(tmp_path: Path) -> None:
    from chessformer.bench.engines import parse_engine_spec
    from experiments.transcendence.transcend import expert_specs

    pool = tmp_path / "p.toml"
    pool.write_text(
        '[[expert]]\nname = "a"\nclean = "greedy"\nrandom_move_prob = 0.7\nhabit = "rook-back"\n'
        'habit_fallback = "clean"\n[[expert]]\nname = "b"\n'
    )
    spec = expert_specs(load_pool(pool))[0]
    assert spec.command[-6:] == ("--habit", "rook-back", "--habit-fallback", "clean", "--clean", "greedy")
    assert parse_engine_spec("noisy:random=0.5,habit=rook,fallback=clean,clean=greedy").command[-4:] == (
        "--habit-fallback",
        "clean",
        "--clean",
        "greedy",
    )
    for key, bad, message in (
        ("clean", "leela", "a: clean must be one of"),
        ("habit_fallback", "uniform", "a: habit_fallback must be one of"),
    ):
        pool.write_text(f'[[expert]]\nname = "a"\n{key} = "{bad}"\n[[expert]]\nname = "b"\n')
        with pytest.raises(ValueError, match=message):
            load_pool(pool)
    r = subprocess.run(
        [sys.executable, "-m", "experiments.transcendence.noisy_engine", "--clean", "leela"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "invalid choice: 'leela'" in r.stderr


def test_noisy_uci_expert_plays_the_greedy_rule() -> None:
    # random 0: never errs, so the rule's move (a2a4: the pawn that advances two ranks, lowest
    # file), which Stockfish at depth 1 does not play. No Stockfish is started: a missing binary
    # does not matter, and the expert answers the protocol itself.
    script = "uci\nisready\nucinewgame\nposition startpos\ngo depth 1\nquit\n"
    out = noisy_expert_session(["--clean", "greedy", "--stockfish", "/nonexistent/stockfish"], script)
    assert out.splitlines() == [
        "id name NoisyExpert(greedy rule, random 0)",
        "id author chessformer",
        "option name Seed type spin default 0 min 0 max 2147483647",
        "uciok",
        "readyok",
        "bestmove a2a4",
    ]
    # always erring by a habit with no move here (the queen is shut in): its own move again
    out = noisy_expert_session(
        ["--clean", "greedy", "--random", "1", "--habit", "queen", "--habit-fallback", "clean"], script
    )
    assert "habit queen, else clean" in out and "bestmove a2a4" in out
    mated = "position fen 7k/6Q1/6K1/8/8/8/8/8 b - - 0 1\ngo depth 1\nquit\n"
    assert noisy_expert_session(["--clean", "greedy"], mated).splitlines() == ["bestmove (none)"]


def test_greedy_pawns_pushes_a_safe_pawn_first_where_the_material_is_equal() -> None:
    from experiments.transcendence.greedy import pawns_first, rule_move

    pawns = lambda fen: rule_move("greedy-pawns", chess.Board(fen)).uci()  # noqa: E731
    # the greedy rule's quiet move is the queen's four-rank advance; greedy-pawns pushes the b-pawn
    assert pawns("4k3/8/4p3/3p4/8/1P6/8/3QK3 w - - 0 1") == "b3b4"
    # material still comes first: bxa4 wins the knight under both rules
    assert pawns("4k3/8/4p3/3p4/n7/1P6/8/3QK3 w - - 0 1") == "b3a4"
    # a push to an attacked square hangs the pawn (one reply): the queen's advance instead
    assert pawns("4k3/8/4p3/2pp4/8/1P6/8/3QK3 w - - 0 1") == "d1h5"  # c5 takes on b4
    # among pawns, the greedy order: the furthest advance (a double push), then the lowest file
    assert rule_move("greedy-pawns", chess.Board()) == greedy_move(chess.Board()) == chess.Move.from_uci("a2a4")
    assert pawns("4k3/8/8/8/8/8/1P4P1/4K3 w - - 0 1") == "b2b4"
    # the same under colour mirroring, and the plain rule is unchanged by the name
    for seed in range(30):
        b = random_walk(random.Random(seed), plies=40)
        if b.is_game_over():
            continue
        m = rule_move("greedy-pawns", b)
        assert m in b.legal_moves
        mm = rule_move("greedy-pawns", b.mirror())
        assert (chess.square_mirror(mm.from_square), chess.square_mirror(mm.to_square)) == (m.from_square, m.to_square)
        assert rule_move("greedy", b) == greedy_move(b)
    with pytest.raises(ValueError, match="unknown rule 'lazy'"):
        rule_move("lazy", chess.Board())
    assert (pawns_first("greedy-pawns"), pawns_first("greedy")) == (True, False)
    with pytest.raises(ValueError, match="unknown rule 'lazy'"):
        pawns_first("lazy")


def test_noisy_uci_expert_plays_the_greedy_pawns_rule() -> None:
    script = "uci\nposition fen 4k3/8/4p3/3p4/8/1P6/8/3QK3 w - - 0 1\ngo depth 1\nquit\n"
    out = noisy_expert_session(["--clean", "greedy-pawns", "--stockfish", "/nonexistent/stockfish"], script)
    assert "id name NoisyExpert(greedy-pawns rule, random 0)" in out and out.splitlines()[-1] == "bestmove b3b4"
    assert noisy_expert_session(["--clean", "greedy"], script).splitlines()[-1] == "bestmove d1h5"
