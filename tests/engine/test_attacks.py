"""Attack maps computed with tensor operations (engine/attacks.py) against python-chess."""

from __future__ import annotations

import random

import chess
import torch

from chessformer.engine.attacks import ATTACK_CODES, N_ATTACK_CODES, AttackMaps
from chessformer.engine.model import ChessFormer, ModelConfig, square_pieces
from chessformer.engine.tokenizer import encode_board
from tests.pgn_factory import random_walk


def _boards() -> list[chess.Board]:
    rng = random.Random(11)
    boards = [random_walk(rng, rng.randint(0, 90)) for _ in range(40)]
    # sliders blocked by both colours, pawns on the edge files, a king next to a queen
    boards.append(chess.Board("r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1"))
    boards.append(chess.Board("8/P6p/8/3Qk3/8/8/p6P/R3K2b b Q - 0 1"))
    return boards


def _pieces(boards: list[chess.Board]) -> torch.Tensor:
    return square_pieces(torch.tensor([encode_board(b, 1).anchor for b in boards]))  # [B, 64]


def test_attackers_by_kind_and_codes_match_python_chess() -> None:
    boards = _boards()
    pieces = _pieces(boards)
    maps = AttackMaps()
    by_kind = maps.by_kind(pieces)  # [B, 12, 64]
    codes = maps(pieces)  # [B, 2, 64]
    assert codes.dtype == torch.int64 and int(codes.min()) >= 0 and int(codes.max()) < N_ATTACK_CODES
    checked = 0
    for i, b in enumerate(boards):
        for sq in chess.SQUARES:
            for c, colour in enumerate((chess.WHITE, chess.BLACK)):
                attackers = [b.piece_type_at(s) for s in b.attackers(colour, sq)]
                for t in range(1, 7):
                    assert by_kind[i, c * 6 + t - 1, sq] == attackers.count(t), (b.fen(), chess.square_name(sq), t)
                want = c * ATTACK_CODES + min(len(attackers), 3) * 7 + min(attackers, default=0)
                assert codes[i, c, sq] == want, (b.fen(), chess.square_name(sq), colour)
                checked += bool(attackers)
    assert checked > 2000  # most squares of these boards are attacked by someone


def test_attack_inputs_reach_the_logits() -> None:
    """A squares-attacks model reads the attack embedding: zeroing it changes the logits."""
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=1, board_encoding="squares-attacks")
    model = ChessFormer(cfg).eval()
    with torch.no_grad():
        model.attack_emb.weight.normal_(0.0, 0.5)
    anchor = torch.tensor([encode_board(b, 1).anchor for b in _boards()[:4]])
    tokens = torch.full((4, 1), 1968)
    with torch.no_grad():
        before = model(tokens, anchor, None)[0]
        model.attack_emb.weight.zero_()
        after = model(tokens, anchor, None)[0]
    assert (before - after).abs().max() > 1e-3
    plain = ChessFormer(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=1, board_encoding="squares"))
    assert not plain.attacks and not hasattr(plain, "attack_emb")
    # the tables are buffers that follow the model (device, dtype) but stay out of its weights
    assert not any(k.startswith("attack_maps") for k in model.state_dict())
