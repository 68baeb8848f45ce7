import chess
import torch

from chessformer.engine.backends.torch_backend import TorchBackend
from chessformer.engine.model import ChessFormer, ModelConfig
from chessformer.engine.tokenizer import POS_ID, encode_board


def _game(plies: int) -> chess.Board:
    b = chess.Board()
    import random

    rng = random.Random(plies)
    for _ in range(plies):
        if b.is_game_over():
            break
        b.push(rng.choice(list(b.legal_moves)))
    return b


def test_incremental_decoding_equals_full_recompute(tiny_model: ChessFormer) -> None:
    seq = encode_board(_game(20), tiny_model.cfg.block_size)
    tokens = torch.tensor([seq.tokens()])
    anchor = torch.tensor([seq.anchor])
    with torch.no_grad():
        full_p, full_v, _ = tiny_model(tokens, anchor)
        # prefill 7 tokens, then 1 token at a time, then 5 at once
        p, v, cache = tiny_model(tokens[:, :7], anchor)
        steps = [p]
        for t in range(7, 15):
            p, v, cache = tiny_model(tokens[:, t : t + 1], anchor, cache)
            steps.append(p)
        p, v, cache = tiny_model(tokens[:, 15:], anchor, cache)
        steps.append(p)
    inc = torch.cat(steps, dim=1)
    assert torch.allclose(inc, full_p, atol=1e-5), (inc - full_p).abs().max()
    assert torch.allclose(v[:, -1], full_v[:, -1], atol=1e-5)


def test_padding_does_not_change_earlier_positions(tiny_model: ChessFormer) -> None:
    seq = encode_board(_game(10), tiny_model.cfg.block_size)
    t = torch.tensor([seq.tokens()])
    padded = torch.cat([t, torch.full((1, 5), 1969)], dim=1)
    anchor = torch.tensor([seq.anchor])
    with torch.no_grad():
        a, _, _ = tiny_model(t, anchor)
        b, _, _ = tiny_model(padded, anchor)
    assert torch.allclose(a, b[:, : t.shape[1]], atol=1e-5)


def test_backend_reuses_cache_across_positions(tiny_model: ChessFormer) -> None:
    backend = TorchBackend(tiny_model, device="cpu")
    board = _game(12)
    bs = tiny_model.cfg.block_size
    first = backend.evaluate([encode_board(board, bs)])[0]
    assert backend.decoded_tokens == 13
    board.push(next(iter(board.legal_moves)))
    board.push(next(iter(board.legal_moves)))
    second = backend.evaluate([encode_board(board, bs)])[0]
    assert backend.decoded_tokens == 15  # two new moves decoded, not the whole game
    fresh = TorchBackend(tiny_model, device="cpu").evaluate([encode_board(board, bs)])[0]
    assert abs(second.policy_logits - fresh.policy_logits).max() < 1e-4
    assert first.policy_logits.shape == (1968,)
    # the same sequence again costs nothing
    backend.evaluate([encode_board(board, bs)])
    assert backend.decoded_tokens == 15


def test_pos_token_embedding_depends_on_board() -> None:
    torch.manual_seed(0)
    m = ChessFormer(ModelConfig(n_layer=1, n_head=1, n_embd=16, block_size=8)).eval()
    tok = torch.tensor([[POS_ID]])
    a = torch.tensor([encode_board(chess.Board(), 8).anchor])
    b = torch.tensor([encode_board(chess.Board("4k3/8/8/8/8/8/8/4K3 w - - 0 1"), 8).anchor])
    with torch.no_grad():
        assert not torch.allclose(m(tok, a)[0], m(tok, b)[0])


def test_config_validation() -> None:
    import pytest

    with pytest.raises(ValueError):
        ModelConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError):
        ModelConfig.from_dict({"n_layer": 2, "bogus": 1})
