"""The square-token learnability probe (training/probe_square_tokens.py) on one-move FEN games."""

from __future__ import annotations

import json
import random
from pathlib import Path

import chess
import chess.pgn
import numpy as np
import pytest
import torch

from chessformer.training.data import GameIndex
from chessformer.training.filters import FilterConfig
from chessformer.training.prepare import PrepareConfig, prepare
from experiments.transcendence.probe_square_tokens import SquareTokenNet, _arrays, _mirror, main
from tests.pgn_factory import random_walk


def _one_move_games(path: Path, n: int, seed: int) -> list[tuple[chess.Board, chess.Move]]:
    rng = random.Random(seed)
    out = []
    with open(path, "w") as f:
        while len(out) < n:
            b = random_walk(rng, rng.randrange(4, 60))
            moves = list(b.legal_moves)
            if not moves:
                continue
            mv = rng.choice(moves)
            game = chess.pgn.Game()
            game.setup(b.copy(stack=False))
            game.headers["Site"] = f"probe:{len(out)}"
            game.headers["Result"] = "1/2-1/2"
            game.add_main_variation(mv)
            f.write(str(game) + "\n\n")
            out.append((b.copy(stack=False), mv))
    return out


def _prepared(tmp_path: Path, name: str, seed: int) -> tuple[Path, list[tuple[chess.Board, chess.Move]]]:
    games = _one_move_games(tmp_path / f"{name}.pgn", 120, seed)
    cfg = PrepareConfig(workers=1, legal_moves=True, filters=FilterConfig(min_plies=1, dedup=False))
    prepare([tmp_path / f"{name}.pgn"], tmp_path / name, cfg, progress=False)
    return tmp_path / name, games


def _board(squares: np.ndarray, globals_: np.ndarray) -> chess.Board:
    b = chess.Board(None)
    for s in range(64):
        if squares[s]:
            k = int(squares[s]) - 1
            b.set_piece_at(s, chess.Piece(k % 6 + 1, k < 6))
    b.turn = bool(768 in globals_)
    return b


def test_square_tokens_and_their_mirror_match_the_boards(tmp_path: Path) -> None:
    data, games = _prepared(tmp_path, "a", 1)
    index = GameIndex(data, 0, legal=True)
    a = _arrays(index, index.train)
    assert len(a["target"]) == 120
    m = {k: v.copy() for k, v in a.items()}
    _mirror(m, np.arange(120))
    for i, (board, _) in enumerate(games):
        assert _board(a["squares"][i], a["globals"][i]).board_fen() == board.board_fen()
        flipped = _board(m["squares"][i], m["globals"][i])
        assert flipped.board_fen() == board.mirror().board_fen() and flipped.turn == board.mirror().turn
    assert (a["legal"] == a["target"][:, None]).any(1).all() and (m["legal"] == m["target"][:, None]).any(1).all()


def test_probe_trains_logs_and_refuses_other_positions(tmp_path: Path) -> None:
    data, _ = _prepared(tmp_path, "a", 1)
    other, _ = _prepared(tmp_path, "b", 2)
    log = tmp_path / "probe.jsonl"
    args = [str(data), "--minutes", "0.03", "--eval-every", "0.01", "--batch", "16", "--n-layer", "1"]
    assert main([*args, "--val-permille", "200", "--log", str(log), "--eval-data", str(data)]) == 0
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows and rows[-1]["step"] > 0 and 0 <= rows[-1]["val_top1"] <= 1
    assert rows[-1]["eval_data_top1"] == rows[-1]["val_top1"]  # the same positions and labels
    assert main([*args, "--val-permille", "200", "--eval-data", str(other)]) == 2
    assert main([*args, "--val-permille", "200", "--policy", "linear"]) == 0


def test_both_policy_heads_give_logits_only_to_legal_moves(tmp_path: Path) -> None:
    data, _ = _prepared(tmp_path, "a", 3)
    index = GameIndex(data, 0, legal=True)
    a = {k: torch.from_numpy(v[:8]) for k, v in _arrays(index, index.train).items()}
    for policy in ("attention", "linear"):
        logits = SquareTokenNet(1, 2, 16, policy)(a["squares"], a["globals"], a["legal"])
        assert logits.shape == a["legal"].shape
        assert torch.isfinite(logits[a["legal"] >= 0]).all() and (logits[a["legal"] < 0] == float("-inf")).all()
    with pytest.raises(ValueError, match="policy"):
        SquareTokenNet(1, 2, 16, "sum")
