"""Value lookahead (engine/player.py, the ValueWeight option): each candidate scored by the value
head on the position after it."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import chess
import numpy as np
import pytest

from chessformer.engine.backends.base import Evaluation
from chessformer.engine.player import Player
from chessformer.engine.tokenizer import N_MOVES, InputSpec, TokenSequence, move_id
from tests.engine.uci_script import Session


class _ValueByLastMove:
    """Prefers one move; after the move ``hangs`` its side to move (the opponent) wins, after any
    other it loses. Records every sequence it is asked for."""

    name = "value-by-last-move"
    block_size = 64

    def __init__(self, preferred: int, hangs: int, inputs: InputSpec | None = None) -> None:
        self.preferred, self.hangs, self.inputs = preferred, hangs, inputs or InputSpec()
        self.seen: list[TokenSequence] = []

    def evaluate(self, sequences: Sequence[TokenSequence]) -> list[Evaluation]:
        self.seen.extend(sequences)
        out = []
        for seq in sequences:
            logits = np.zeros(N_MOVES, dtype=np.float32)
            logits[self.preferred] = 3.0
            wins = bool(seq.moves) and seq.moves[-1] == self.hangs
            wdl = (0.9, 0.05, 0.05) if wins else (0.05, 0.05, 0.9)
            out.append(Evaluation(logits, np.log(np.array(wdl, dtype=np.float32))))
        return out


def test_a_move_the_value_head_calls_lost_gives_way_to_the_weight() -> None:
    board = chess.Board()
    board.push_san("e4")
    hanging, other = chess.Move.from_uci("d7d5"), chess.Move.from_uci("e7e5")  # the model loves ...d5, en prise
    backend = _ValueByLastMove(move_id(board, hanging), move_id(board, hanging))
    player = Player(backend)  # type: ignore[arg-type]
    plain = player.evaluate(board)
    assert plain.moves[0] == hanging and plain.scores is None and len(backend.seen) == 1  # no lookahead at 0
    ev = player.evaluate(board, value_weight=10.0)
    # one child per legal move, each the game plus that move
    children = backend.seen[2:]
    assert len(children) == board.legal_moves.count() == len(ev.moves)
    assert all(c.moves[:-1] == backend.seen[0].moves and len(c.moves) == 2 for c in children)
    assert ev.scores is not None
    score = dict(zip(ev.moves, ev.scores, strict=True))
    assert score[hanging] == pytest.approx(0.05 + 0.025, abs=1e-4)  # 1 - (W + D/2) of the opponent
    assert score[other] == pytest.approx(0.9 + 0.025, abs=1e-4)
    # 3 nats of policy against 10 * 0.85 of value: the hanging move drops below every other
    assert ev.moves[-1] == hanging and ev.probs.sum() == pytest.approx(1.0)
    assert ev.logits[ev.moves.index(hanging)] == pytest.approx(plain.logits[0] + 10.0 * score[hanging], abs=1e-6)
    # a small weight leaves the policy's choice: the knob is continuous
    assert player.evaluate(board, value_weight=1.0).moves[0] == hanging
    with pytest.raises(ValueError, match="value_weight"):
        player.evaluate(board, value_weight=-1.0)


def test_game_ending_moves_are_scored_by_the_rules() -> None:
    # Qf7 stalemates, Qf8 mates; the value head is never asked about a finished game
    board = chess.Board("7k/8/6K1/8/8/8/8/5Q2 w - - 0 1")
    stalemate, mate = chess.Move.from_uci("f1f7"), chess.Move.from_uci("f1f8")
    backend = _ValueByLastMove(move_id(board, stalemate), -1)
    ev = Player(backend).evaluate(board, value_weight=8.0)  # type: ignore[arg-type]
    assert ev.scores is not None
    score = dict(zip(ev.moves, ev.scores, strict=True))
    assert score[mate] == 1.0 and score[stalemate] == 0.5
    ending = [m for m in board.legal_moves if board.copy().outcome() is None and _ends(board, m)]
    assert {mate, stalemate} <= set(ending) and len(backend.seen) == 1 + board.legal_moves.count() - len(ending)
    assert ev.moves[0] == mate  # 8 * (1 - 0.5) outweighs the 3 nats the policy gives the stalemate


def _ends(board: chess.Board, move: chess.Move) -> bool:
    child = board.copy()
    child.push(move)
    return child.is_game_over()


def test_the_children_keep_the_ratings_with_their_colours() -> None:
    board = chess.Board()
    board.push_san("e4")  # black to move: black plays as the engine's rating
    spec = InputSpec(board_every_ply=True, rating_condition=True)
    backend = _ValueByLastMove(0, -1, spec)
    player = Player(backend, ratings=(("fide", 2700), ("fide", 1200)))  # type: ignore[arg-type]
    player.evaluate(board, value_weight=1.0)
    parent, children = backend.seen[0], backend.seen[1:]
    # the feature rows end with the rating ids of the side to move after each token; each child
    # repeats its parent's rows and its last row names white's (the opponent's) rating as to move
    assert children and all(c.all_rows()[:-1] == parent.all_rows() for c in children)
    assert {c.all_rows()[-1][-2:] for c in children} == {parent.all_rows()[-2][-2:]}


def test_slot_backends_split_batches_larger_than_their_slots(tiny_model) -> None:  # noqa: ANN001 - fixture
    from chessformer.engine.backends.cpu_fast import CpuFastBackend
    from chessformer.engine.backends.torch_backend import TorchBackend

    board = chess.Board()
    for san in ("e4", "e5", "Nf3", "Nc6", "Bb5"):
        board.push_san(san)
    small = Player(CpuFastBackend(copy.deepcopy(tiny_model), slots=8))  # more children (30) than 8 slots
    reference = Player(TorchBackend(copy.deepcopy(tiny_model), device="cpu"))
    a, b = small.evaluate(board, value_weight=2.0), reference.evaluate(board, value_weight=2.0)
    assert a.moves == b.moves
    assert a.scores is not None and b.scores is not None
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


def test_the_uci_option_refuses_bad_weights_and_plays_with_a_good_one(tiny_weights: Path) -> None:
    s = Session()
    s.send(f"setoption name WeightsFile value {tiny_weights}")
    for bad in ("-1", "lots", "1e9"):
        s.send(f"setoption name ValueWeight value {bad}")
        assert "ValueWeight must be a number between 0 and 100" in s.expect("^info string")
    assert s.engine.options.value_weight == 0.0
    s.send("setoption name ValueWeight value 4")
    s.send("position startpos moves e2e4")
    s.send("go")
    best = s.expect("^bestmove").split()[1]
    board = chess.Board()
    board.push_uci("e2e4")
    assert s.engine.options.value_weight == 4.0 and chess.Move.from_uci(best) in board.legal_moves
