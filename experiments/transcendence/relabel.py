"""``python -m experiments.transcendence diagnose relabel``: the same positions, labelled by the experts and by their shared policy.

A diagnostic for the transcendence pools (experiments/transcendence/configs/pool_v*), where every expert
plays Stockfish's depth-1 move or, with its random-move rate, a uniform legal move. Is a
model failing to learn that shared move because the labels are noisy, or because the
move is beyond what it can learn from these positions in the time given? This writes two
PGN files over one seeded sample of positions from an expert-games PGN:

- ``played.pgn``: each position with the move the expert played there (the noisy labels
  a transcendence model trains on);
- ``reference.pgn``: each position with Stockfish's fixed-depth move (the clean labels).

Each position is a one-move game from its FEN (``SetUp``/``FEN`` headers, the source
game's result), so the usual pipeline applies: ``python -m chessformer.training prepare --min-plies 1
--keep-duplicates`` and a ``block_size = 2`` training run. Trained on the same positions,
a model's validation top-1 on ``reference`` bounds what ``played`` can give; comparing
both models with ``python -m experiments.transcendence diagnose agreement`` separates noise from learnability.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import chess
import chess.pgn

from chessformer.bench.analyse import positions_with_next_moves
from experiments.transcendence.agreement import reference_moves


@dataclass(frozen=True)
class RelabelSummary:
    positions: int  # positions written to each file (count)
    agree: float  # played move == reference move (fraction): the labels' signal
    played: str  # path of played.pgn
    reference: str  # path of reference.pgn


def _one_move_game(board: chess.Board, move: chess.Move, result: str, name: str, index: int) -> str:
    game = chess.pgn.Game()
    game.setup(board.copy(stack=False))
    game.headers["Event"] = f"relabel {name}"
    game.headers["Site"] = f"relabel:{index}"
    game.headers["White"] = game.headers["Black"] = name
    game.headers["Result"] = result
    game.add_main_variation(move)
    return str(game) + "\n\n"


def relabel(
    pgn: Path, out: Path, positions: int, depth: int = 1, skip_plies: int = 8, seed: int = 0, progress: bool = True
) -> RelabelSummary:
    """Write ``out/played.pgn`` and ``out/reference.pgn`` (see the module doc)."""
    sample = positions_with_next_moves(pgn, "", positions, seed, skip_plies=skip_plies, with_history=False)
    if not sample:
        raise ValueError(f"{pgn}: no positions past ply {skip_plies}")
    boards = [b for b, _ in sample]
    refs = reference_moves(boards, depth, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    # The source game's result is not kept by the sample; a one-move game's value target is not the point here.
    with (
        open(out / "played.pgn", "w", encoding="utf-8") as fp,
        open(out / "reference.pgn", "w", encoding="utf-8") as fr,
    ):
        for i, ((board, played), ref) in enumerate(zip(sample, refs, strict=True)):
            fp.write(_one_move_game(board, played, "1/2-1/2", "played", i))
            fr.write(_one_move_game(board, ref, "1/2-1/2", f"stockfish-d{depth}", i))
    agree = sum(p == r for (_, p), r in zip(sample, refs, strict=True)) / len(sample)
    return RelabelSummary(len(sample), agree, str(out / "played.pgn"), str(out / "reference.pgn"))
