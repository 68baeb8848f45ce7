"""bench/repeats.py: a game replayed move for move is counted, a different one is not."""

from pathlib import Path

import chess
import chess.pgn

from experiments.transcendence.repeats import repeats_of


def _game(white: str, black: str, moves: list[str], opening: str = "startpos", fen: str | None = None) -> str:
    board = chess.Board(fen) if fen else chess.Board()
    game = chess.pgn.Game.from_board(board)
    node = game
    for m in moves:
        node = node.add_variation(chess.Move.from_uci(m))
    game.headers["White"], game.headers["Black"], game.headers["Opening"] = white, black, opening
    game.headers["Result"] = "*"
    return str(game) + "\n\n"


def test_repeats_counts_each_replay_for_both_players(tmp_path: Path) -> None:
    line = ["e2e4", "e7e5", "g1f3"]
    fen = "r1bqkbnr/pppp1ppp/2n5/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 2 3"
    games = [
        _game("A", "B", line),
        _game("A", "B", line),  # a replay
        _game("A", "B", line),  # and another
        _game("B", "A", line),  # same moves, colours swapped: a different game
        _game("A", "B", line[:2]),  # different moves
        _game("A", "C", line),  # different opponent
        _game("A", "B", ["f3g5"], "Italian", fen),  # a set-up position (FEN header)
        _game("A", "B", ["f3g5"], "Italian", fen),  # its replay
        _game("A", "B", ["f1c4"], "Italian", fen),
    ]
    pgn = tmp_path / "games.pgn"
    pgn.write_text("".join(games))
    assert repeats_of(pgn) == {"A": 3, "B": 3}
    pgn.write_text("".join(games[3:7]))
    assert repeats_of(pgn) == {}
