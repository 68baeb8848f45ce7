"""The squares board encodings: one token per square, full attention, an attention policy (engine/model.py).

Every test taking the ``squares_model`` fixture runs on ``squares`` and on ``squares-attacks``.
"""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path

import chess
import numpy as np
import pytest
import torch

from chessformer.engine.backends.check import CheckBackend
from chessformer.engine.backends.cpu_fast import CpuFastBackend, CpuInt8Backend
from chessformer.engine.backends.cuda_graph import CudaGraphBackend
from chessformer.engine.backends.onnx_backend import GraphBackend, OrtRunner
from chessformer.engine.backends.tensorrt_backend import profiles
from chessformer.engine.backends.torch_backend import TorchBackend
from chessformer.engine.model import ChessFormer, ModelConfig, square_pieces
from chessformer.engine.player import Player
from chessformer.engine.tokenizer import MOVE_TO_ID, encode_board
from chessformer.engine.weights import load_weights, save_weights
from tests.pgn_factory import random_walk

TOL = 1e-4  # fp32 logits, as tests/test_backends.py


def _random_boards(n: int, seed: int) -> list[chess.Board]:
    rng = random.Random(seed)
    return [random_walk(rng, rng.randint(0, 60)) for _ in range(n)]


@pytest.fixture(scope="module", params=["squares", "squares-attacks"])
def squares_model(request: pytest.FixtureRequest) -> ChessFormer:
    torch.manual_seed(3)
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=1, board_encoding=request.param)
    model = ChessFormer(cfg).eval()
    with torch.no_grad():  # larger than the training init, and random biases, so every path shows in the logits
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model


def test_square_pieces_match_python_chess() -> None:
    boards = _random_boards(30, seed=1)
    anchors = torch.tensor([encode_board(b, 1).anchor for b in boards])
    pieces = square_pieces(anchors)  # [B, 64]
    for b, row in zip(boards, pieces.tolist(), strict=True):
        for sq in chess.SQUARES:
            p = b.piece_at(sq)
            want = 0 if p is None else 1 + p.piece_type - 1 + (0 if p.color == chess.WHITE else 6)
            assert row[sq] == want, (b.fen(), chess.square_name(sq))


def test_block_size_one_sequences_are_the_current_board() -> None:
    for b in _random_boards(10, seed=2):
        seq = encode_board(b, 1)
        assert seq.moves == () and seq.anchor == encode_board(b.copy(stack=False), 1).anchor


def test_attention_policy_logit_is_query_dot_key_plus_promotion_bias(squares_model: ChessFormer) -> None:
    m = squares_model
    board = chess.Board("8/P6k/8/8/8/8/4P3/4K3 w - - 0 1")
    anchor = torch.tensor([encode_board(board, 1).anchor])
    with torch.no_grad():
        policy, value, cache = m(torch.tensor([[1968]]), anchor, None)
        x = m.square_tokens(anchor)  # [1, 65, C]
        for block in m.blocks:
            x, _ = block(x, None, causal=False)
        x = m.ln_f(x)[0]  # [65, C]
        q, k, promo = m.policy.query(x), m.policy.key(x), m.policy.promotion(x)
    assert policy.shape == (1, 1, 1968) and value.shape == (1, 1, 3) and cache == []
    C = x.shape[-1]
    for uci, frm, to, kind in (("e2e4", 12, 28, 0), ("a7a8q", 48, 56, 1), ("a7a8n", 48, 56, 4), ("e1f1", 4, 5, 0)):
        want = float(q[frm] @ k[to]) / math.sqrt(C) + float(promo[to, kind])
        assert abs(float(policy[0, 0, MOVE_TO_ID[uci]]) - want) < 1e-4, uci


def test_squares_reads_the_board_with_full_attention(squares_model: ChessFormer) -> None:
    """Moving a piece on h8 changes the logits of a move on a1: every square sees every other."""
    a = encode_board(chess.Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1"), 1).anchor
    b = encode_board(chess.Board("r3k1r1/8/8/8/8/8/8/R3K2R w Qq - 0 1"), 1).anchor
    with torch.no_grad():
        pa, _, _ = squares_model(torch.tensor([[1968]]), torch.tensor([a]), None)
        pb, _, _ = squares_model(torch.tensor([[1968]]), torch.tensor([b]), None)
    assert abs(float(pa[0, 0, MOVE_TO_ID["a1a2"]] - pb[0, 0, MOVE_TO_ID["a1a2"]])) > 1e-4


def test_config_validation_and_weights_round_trip(squares_model: ChessFormer, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="block_size must be 1"):
        ModelConfig(n_layer=1, n_head=1, n_embd=8, block_size=2, board_encoding="squares")
    with pytest.raises(ValueError, match="board_encoding"):
        ModelConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, board_encoding="pixels")
    with pytest.raises(ValueError, match="a squares model reads one board"):
        squares_model(torch.tensor([[1968, 5]]), torch.tensor([encode_board(chess.Board(), 1).anchor]), None)
    # weights files written before the option existed have no board_encoding: they are summed models
    assert ModelConfig.from_dict({"n_layer": 1, "n_head": 1, "n_embd": 8, "block_size": 8}).board_encoding == "summed"
    path = tmp_path / "sq.safetensors"
    save_weights(squares_model, path, {"random_init": True, "description": "squares test weights"})
    loaded, info = load_weights(path)
    assert info.config["board_encoding"] == squares_model.cfg.board_encoding and loaded.squares
    assert loaded.attacks == (squares_model.cfg.board_encoding == "squares-attacks")
    anchor = torch.tensor([encode_board(b, 1).anchor for b in _random_boards(4, seed=5)])
    tok = torch.full((4, 1), 1968)
    with torch.no_grad():
        assert torch.equal(loaded(tok, anchor, None)[0], squares_model(tok, anchor, None)[0])


def test_every_backend_matches_torch_on_a_squares_model(squares_model: ChessFormer, tmp_path: Path) -> None:
    ref = TorchBackend(copy.deepcopy(squares_model), device="cpu")
    backends = [
        CpuFastBackend(copy.deepcopy(squares_model), slots=48),
        CudaGraphBackend(copy.deepcopy(squares_model), slots=48),
        GraphBackend(
            copy.deepcopy(squares_model), OrtRunner(copy.deepcopy(squares_model), tmp_path / "onnx"), slots=48
        ),
    ]
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == ["prefill.onnx"]  # no decode graph
    assert list(profiles(squares_model.cfg)) == ["prefill"]
    for be in backends:
        boards = _random_boards(40, seed=7)
        for _ply in range(5):
            seqs = [encode_board(b, 1) for b in boards]
            for g, w in zip(be.evaluate(seqs), ref.evaluate(seqs), strict=True):
                assert np.abs(g.policy_logits - w.policy_logits).max() < TOL, be.name
                assert np.abs(g.wdl_logits - w.wdl_logits).max() < TOL, be.name
            for b in boards:
                if not b.is_game_over():
                    b.push(next(iter(b.legal_moves)))
        # every position is one prefill row; 40 rows fit one forward per ply
        assert be.decode_calls == 0 and be.prefill_calls == 5, be.name  # type: ignore[attr-defined]


def test_int8_and_player_on_a_squares_model(squares_model: ChessFormer) -> None:
    """cpu-int8 within its documented tolerance; the player plays a game through the check backend."""
    check = CheckBackend(
        CpuInt8Backend(copy.deepcopy(squares_model), slots=8), TorchBackend(copy.deepcopy(squares_model)), 0.6
    )
    player = Player(check)
    b = chess.Board()
    while not b.is_game_over() and b.ply() < 40:
        move = player.evaluate(b).moves[0]
        assert move in b.legal_moves
        b.push(move)
    assert check.batches >= 20 and check.max_policy_diff < 0.6


def test_torch_backend_evicts_squares_entries(squares_model: ChessFormer) -> None:
    """A squares model caches no keys: the reference backend still bounds its memory by the evaluations."""
    be = TorchBackend(copy.deepcopy(squares_model), device="cpu", cache_mb=0)
    be.evaluate([encode_board(b, 1) for b in _random_boards(5, seed=9)])
    assert len(be._entries) == 0
