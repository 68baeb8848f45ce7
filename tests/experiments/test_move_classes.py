from pathlib import Path

import chess
import pytest

from chessformer.bench.analyse import player_moves
from experiments.transcendence.move_classes import (
    BLUNDER,
    classify_moves,
    move_classes_report,
    move_kind,
    run_move_classes,
    stockfish_price,
)
from tests.engine.test_engine_subprocess import STOCKFISH
from tests.pgn_factory import game_text

# White's rook takes a free queen (the greedy rule's move); the king's habit walks instead
FREE_QUEEN = chess.Board("6k1/8/8/3q4/8/8/8/3R2K1 w - - 0 1")
# nothing to take: greedy-pawns pushes b3-b4, the greedy rule sends the queen furthest (Qh5)
QUIET = chess.Board("4k3/8/4p3/3p4/8/1P6/8/3QK3 w - - 0 1")


def uci(text: str) -> chess.Move:
    return chess.Move.from_uci(text)


def test_move_kind_names_the_rule_the_first_matching_habit_or_other() -> None:
    habits = ("king", "rook-back")
    assert move_kind(FREE_QUEEN, uci("d1d5"), habits) == "greedy"
    assert move_kind(FREE_QUEEN, uci("g1f2"), habits) == "habit:king(-material)"  # furthest forward, lowest file
    assert move_kind(FREE_QUEEN, uci("d1f1"), habits) == "habit:rook-back(-material)"
    assert move_kind(FREE_QUEEN, uci("d1f1"), ("king",)) == "other(-material)"
    start = chess.Board()
    assert move_kind(start, uci("a2a4"), ()) == "greedy"  # the furthest advance, lowest file
    assert move_kind(start, uci("b1a3"), ("king", "knight")) == "habit:knight"  # no material in play: no suffix
    assert move_kind(start, uci("e2e3"), ("knight",)) == "other"


def test_player_moves_reads_only_the_named_players_moves_after_the_skipped_plies(tmp_path: Path) -> None:
    pgn = tmp_path / "g.pgn"
    pgn.write_text(
        game_text({"White": "A", "Black": "B"}, "1. e4 e5 2. Nf3 Nc6 3. Bb5", "*")
        + game_text({"White": "B", "Black": "A"}, "1. d4 d5 2. c4", "*")
    )
    got = [(b.fen(), m.uci()) for b, m in player_moves(pgn, "A", skip_plies=1, max_games=10)]
    assert [m for _, m in got] == ["g1f3", "f1b5", "d7d5"]  # e2e4 is ply 0; d7d5 ply 1
    assert got[0][0] == chess.Board("rnbqkbnr/pppp1ppp/8/4p3/4P3/8/PPPP1PPP/RNBQKBNR w KQkq - 0 2").fen()
    assert [m.uci() for _, m in player_moves(pgn, "A", skip_plies=0, max_games=1)] == ["e2e4", "g1f3", "f1b5"]
    assert all(not b.move_stack for b, _ in player_moves(pgn, "A"))  # stackless copies by default
    stacks = [[m.uci() for m in b.move_stack] for b, _ in player_moves(pgn, "A", stack=True)]
    assert stacks == [[], ["e2e4", "e7e5"], ["e2e4", "e7e5", "g1f3", "b8c6"], ["d2d4"]]  # all games: max_games None
    with pytest.raises(ValueError, match="no game of a player named 'C'"):
        list(player_moves(pgn, "C", 0, 10))


def test_classify_moves_counts_shares_losses_and_blunders() -> None:
    boards = [FREE_QUEEN, FREE_QUEEN, FREE_QUEEN, chess.Board()]
    moves = [uci("d1d5"), uci("g1f2"), uci("g1h2"), uci("e2e3")]

    def price(board: chess.Board, move: chess.Move) -> float:  # the king's walks are the blunders
        return 40.0 if board.piece_type_at(move.from_square) == chess.KING else 1.0

    rows = classify_moves(iter(zip(boards, moves, strict=True)), ("king",), price)
    by_kind = {r.kind: r for r in rows}
    assert set(by_kind) == {"greedy", "habit:king(-material)", "other(-material)", "other"}
    assert rows[0].kind == "habit:king(-material)"  # the most summed loss first
    assert (by_kind["habit:king(-material)"].moves, by_kind["habit:king(-material)"].blunders) == (1, 1)
    assert by_kind["other(-material)"].mean_loss == 40.0 and by_kind["other(-material)"].blunders == 1
    assert by_kind["greedy"].share == 0.25 and by_kind["greedy"].blunders == 0
    assert sum(r.loss_share for r in rows) == pytest.approx(1.0)
    assert by_kind["greedy"].loss_share == pytest.approx(1 / 82)
    report = move_classes_report("X", rows)
    assert "X: 4 moves, mean expected-score loss 20.5 points, 2 blunders" in report
    assert f"loss >= {BLUNDER:g}" in report
    with pytest.raises(ValueError, match="unknown habit"):
        classify_moves(iter([]), ("castle",), price)
    with pytest.raises(ValueError, match="no moves"):
        classify_moves(iter([]), (), price)


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed")
def test_stockfish_price_of_a_mate_a_win_and_a_blunder(tmp_path: Path) -> None:
    import chess.engine

    sf = chess.engine.SimpleEngine.popen_uci(STOCKFISH)
    try:
        price = stockfish_price(sf, depth=6)
        assert price(chess.Board("6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1"), uci("d1d8")) == 0.0  # mates
        assert price(FREE_QUEEN, uci("d1d5")) < 5.0
        assert price(FREE_QUEEN, uci("g1f2")) >= BLUNDER  # leaves the queen to escape: rook against queen
    finally:
        sf.quit()
    pgn = tmp_path / "g.pgn"
    pgn.write_text(game_text({"White": "A", "Black": "B", "FEN": FREE_QUEEN.fen(), "SetUp": "1"}, "1. Kf2 Qd2+", "*"))
    rows = run_move_classes(pgn, "A", ("king",), 6, 0, 10, tmp_path / "m.json", progress=False)
    assert [(r.kind, r.moves, r.blunders) for r in rows] == [("habit:king(-material)", 1, 1)]
    assert '"player": "A"' in (tmp_path / "m.json").read_text()
    # the rule named is the one the moves are classed by: b3-b4 is greedy-pawns' move, not greedy's
    quiet = tmp_path / "quiet.pgn"
    quiet.write_text(game_text({"White": "A", "Black": "B", "FEN": QUIET.fen(), "SetUp": "1"}, "1. b4", "*"))
    for rule, kind in (("greedy-pawns", "greedy"), ("greedy", "other")):
        rows = run_move_classes(quiet, "A", (), 6, 0, 10, tmp_path / "q.json", progress=False, rule=rule)
        assert [r.kind for r in rows] == [kind]
        assert f'"rule": "{rule}"' in (tmp_path / "q.json").read_text()


def test_move_kind_can_take_the_greedy_pawns_rule_as_the_shared_move() -> None:
    assert move_kind(QUIET, uci("b3b4"), (), rule="greedy-pawns") == "greedy"
    assert move_kind(QUIET, uci("d1h5"), (), rule="greedy-pawns") == "other"
    assert move_kind(QUIET, uci("d1h5"), ()) == "greedy"
    with pytest.raises(ValueError, match="unknown rule"):
        classify_moves(iter([(QUIET, uci("b3b4"))]), (), lambda b, m: 0.0, rule="lazy")
