"""The paper's character nanoGPT: parity with its code, exact move distributions, safe loading, play."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from pathlib import Path

import chess
import numpy as np
import pytest
import torch

from chessformer.engine.backends.nanogpt_backend import NanoGPTBackend, move_prefix, window_start
from chessformer.engine.nanogpt import NanoGPT, NanoGPTConfig, encode_chars, read_paper_checkpoint
from chessformer.engine.player import Player
from chessformer.engine.tokenizer import encode_board
from chessformer.engine.weights import WeightsError, load_weights

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "paper-nanogpt"
CKPT = FIXTURE / "ckpt_tiny.pt"
pytestmark = pytest.mark.skipif(
    not CKPT.is_file(), reason="../shared/fixtures/paper-nanogpt is not beside the checkout"
)


@pytest.fixture()
def model() -> NanoGPT:  # per test: a backend casts its model in place
    m, _ = load_weights(CKPT)
    assert isinstance(m, NanoGPT)
    return m


def test_next_character_logprobs_match_the_paper_code(model: NanoGPT) -> None:
    ref = json.loads((FIXTURE / "reference.json").read_text())
    assert len(ref["references"]) == 8
    for r in ref["references"]:
        with torch.no_grad():
            logits = model(torch.tensor([encode_chars(r["prefix"])]))
        lp = torch.log_softmax(logits[0, -1].double(), dim=-1)
        assert (lp - torch.tensor(r["next_char_logprobs"])).abs().max() < 1e-5


def _brute_force(model: NanoGPT, board: chess.Board, text: str) -> dict[chess.Move, float]:
    """log p(m) for every legal move, one full forward per move, no cache, no tree."""
    out = {}
    for m in board.legal_moves:
        s = text + move_prefix(board, text) + board.san(m)
        idx = torch.tensor([encode_chars(s)])
        with torch.no_grad():
            logits = model(idx)
        lp = torch.log_softmax(logits[0].double(), dim=-1)  # [T, V]
        total = sum(float(lp[i - 1, idx[0, i]]) for i in range(len(text), len(s)))
        out[m] = total + float(torch.logsumexp(lp[-1, [0, 15]], dim=0))  # then a space or ';'
    return out


@pytest.mark.parametrize(
    "moves",
    [
        "",
        "e2e4 e7e5 g1f3 b8c6 f1c4 g8f6",
        # both sides may castle either way: O-O and O-O-O must stay apart
        "e2e4 e7e5 g1f3 b8c6 d2d4 d7d5 c1f4 c8f5 d1d2 d8d7 b1c3 g8f6 f1e2 f8e7",
        "a2a4 b7b5 a4b5 a7a6 b5a6 c8b7 a6a7 b7c6",  # a promotion with every piece, captures among them
    ],
)
def test_exact_distribution_sums_to_one_and_equals_brute_force(model: NanoGPT, moves: str) -> None:
    backend = NanoGPTBackend(copy.deepcopy(model), dtype=torch.float32)
    board = chess.Board()
    for m in moves.split():
        board.push_uci(m)
    ev = Player(backend).evaluate(board)
    assert abs(float(ev.probs.sum()) - 1) < 1e-9 and len(ev.moves) == board.legal_moves.count()
    game = backend.game_text(encode_board(board, backend.block_size))
    brute = _brute_force(model, board, game.text)
    for m, lg in zip(ev.moves, ev.logits, strict=True):
        assert abs(brute[m] - lg) < 1e-4, (board.san(m), brute[m], lg)
    p = np.exp(np.array(list(brute.values())))
    assert abs(float(ev.probs.max()) - p.max() / p.sum()) < 1e-4
    if "f8e7" in moves:
        san = {board.san(m) for m in ev.moves}
        assert {"O-O", "O-O-O"} <= san


def test_bf16_matmuls_stay_close_to_float32(model: NanoGPT) -> None:
    from chessformer.engine.nanogpt import CastLinear
    from chessformer.engine.perf import faster_cpu_matmul_dtype

    assert faster_cpu_matmul_dtype(128, 64, 256) in (torch.float32, torch.bfloat16)  # measured, either may win
    exact = NanoGPTBackend(copy.deepcopy(model), dtype=torch.float32)
    fast = NanoGPTBackend(copy.deepcopy(model), dtype=torch.bfloat16)
    assert fast.dtype == torch.bfloat16 and any(isinstance(m, CastLinear) for m in fast.model.modules())
    assert set(fast.model.state_dict()) == set(exact.model.state_dict())  # same keys: casting renames nothing
    board = chess.Board()
    for uci in ["e2e4", "e7e5", "g1f3", "b8c6", "f1c4", "g8f6", "d2d3", "f8c5"]:
        board.push_uci(uci)
    a, b = Player(exact).evaluate(board), Player(fast).evaluate(board)
    la, lb = dict(zip(a.moves, a.logits, strict=True)), dict(zip(b.moves, b.logits, strict=True))
    assert set(la) == set(lb) and abs(float(b.probs.sum()) - 1) < 1e-9
    diff = max(abs(la[m] - lb[m]) for m in la)
    assert 0 < diff < 0.1, diff  # bf16 rounding: not bit-equal, but a few hundredths of a nat


def test_one_tree_forward_per_position(model: NanoGPT) -> None:
    backend = NanoGPTBackend(model)
    board = chess.Board()
    player = Player(backend)
    for _ in range(6):
        before = backend.forwards
        ev = player.evaluate(board)
        assert backend.forwards - before == 1  # the prefix's new characters and the whole candidate tree, together
        board.push(ev.moves[0])


def test_window_caches_follow_each_line_of_play_and_equal_a_fresh_computation(model: NanoGPT) -> None:
    import copy

    def logits(backend: NanoGPTBackend, ucis: list[str]) -> list[float]:
        board = chess.Board()
        for u in ucis:
            board.push_uci(u)
        return [float(x) for x in Player(backend).evaluate(board).logits]

    lines = [["e2e4", "e7e5", "g1f3"], ["e2e4", "c7c5"], ["e2e4", "e7e5", "g1f3", "b8c6"], ["d2d4"], ["e2e4"]]
    for mb in (0, 4096):  # Hash 0 keeps one cache, cut back and refilled; a big one keeps a cache per line
        backend = NanoGPTBackend(copy.deepcopy(model), cache_mb=mb, dtype=torch.float32)
        for line in lines + lines[::-1]:
            fresh = NanoGPTBackend(copy.deepcopy(model), dtype=torch.float32)
            assert np.allclose(logits(backend, line), logits(fresh, line), atol=1e-9)
        assert (len(backend._slots) == 1) == (mb == 0)  # a diverging line gets its own cache when Hash allows


def test_a_150_move_game_slides_the_window_at_move_boundaries(model: NanoGPT) -> None:
    backend = NanoGPTBackend(model)
    player = Player(backend)
    rng = np.random.default_rng(0)
    board = chess.Board()
    starts = set()
    while board.fullmove_number <= 150:
        if board.is_game_over(claim_draw=False):
            board = chess.Board(board.fen())  # the game ended: a fresh stack from here keeps the test going
            continue
        move = player.choose(board, 1.0, rng)
        assert move in board.legal_moves
        game = backend.game_text(encode_board(board, backend.block_size))
        s = window_start(game.text, model.cfg.block_size)
        assert s == 0 or game.text[s - 1] == " "  # a move boundary
        assert len(game.text) - s + 16 <= model.cfg.block_size
        starts.add(s)
        board.push(move)
    assert len(starts) >= 3  # the window moved (a 150-move transcript is ~1,900 characters)


def test_full_game_through_uci_same_moves_from_pt_and_converted(tmp_path: Path) -> None:
    from chessformer.training.convert_paper import convert

    converted = convert(CKPT, tmp_path / "paper.safetensors")
    assert not any(k.startswith("_orig_mod") for k in json.loads(converted.with_suffix(".json").read_text())["config"])
    games = [_uci_game(w) for w in (CKPT, converted)]
    assert games[0] == games[1] and len(games[0]) >= 40


def _uci_game(weights: Path) -> list[str]:
    """40 plies at Temperature 0, each move checked legal with python-chess."""
    # MateInOne off: the model's own moves for all 40 plies (with it, this tiny model's game ends in a mate at ply 34)
    lines = [
        f"setoption name WeightsFile value {weights}",
        "setoption name Temperature value 0",
        "setoption name MateInOne value false",
        "isready",
    ]
    board = chess.Board()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chessformer.engine"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n".join(lines) + "\n")
    played: list[str] = []
    for _ in range(40):
        if board.is_game_over():
            break
        proc.stdin.write(f"position startpos moves {' '.join(played)}\ngo movetime 50\n")
        proc.stdin.flush()
        while not (line := proc.stdout.readline()).startswith("bestmove"):
            assert line, "engine exited"
        move = chess.Move.from_uci(line.split()[1])
        assert move in board.legal_moves
        board.push(move)
        played.append(move.uci())
    proc.stdin.write("quit\n")
    proc.stdin.flush()
    assert proc.wait(timeout=30) == 0
    return played


class Evil:
    """Anything a weights_only load must refuse to build."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("this must never run",))


def _bad_files(tmp_path: Path) -> list[tuple[Path, str]]:
    ck = torch.load(CKPT, map_location="cpu", weights_only=True)
    files = []
    evil = tmp_path / "evil.pt"
    torch.save({**ck, "config": Evil()}, evil)
    files.append((evil, "arbitrary pickled objects"))
    wide = dict(ck, model_args={**ck["model_args"], "vocab_size": 65})
    torch.save(wide, tmp_path / "vocab.pt")
    files.append((tmp_path / "vocab.pt", "vocab_size 65"))
    missing = dict(ck, model={k: v for k, v in ck["model"].items() if "ln_f" not in k})
    torch.save(missing, tmp_path / "missing.pt")
    files.append((tmp_path / "missing.pt", "missing ['transformer.ln_f.weight']"))
    raw = CKPT.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    files.append((tmp_path / "truncated.pt", "truncated"))
    return files


def test_bad_checkpoints_are_refused_with_one_line(tmp_path: Path) -> None:
    for path, why in _bad_files(tmp_path):
        with pytest.raises(WeightsError) as e:
            load_weights(path)
        assert why in str(e.value) and "\n" not in str(e.value), str(e.value)
    plain = torch.load(CKPT, map_location="cpu", weights_only=True)  # no _orig_mod. prefix: also fine
    plain["model"] = {k.removeprefix("_orig_mod."): v for k, v in plain["model"].items()}
    torch.save(plain, tmp_path / "plain.pt")
    cfg, state = read_paper_checkpoint(tmp_path / "plain.pt")
    assert cfg == NanoGPTConfig(n_layer=2, n_head=2, n_embd=64) and "transformer.wte.weight" in state


def test_uci_refuses_bad_checkpoints_and_keeps_playing(tmp_path: Path) -> None:
    from tests.engine.test_uci_transcript import Session

    sess = Session()
    sess.send(f"setoption name WeightsFile value {CKPT}")
    sess.send("isready")
    sess.expect("^readyok$")
    for path, why in _bad_files(tmp_path):
        sess.send(f"setoption name WeightsFile value {path}")
        line = sess.expect("^info string WeightsFile")
        assert why in line and line.endswith("unchanged")
    sess.send("go")
    assert sess.expect("^bestmove") != "bestmove 0000"


def test_paper_sampler_and_its_fallback(model: NanoGPT, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = NanoGPTBackend(model)
    player = Player(backend)
    rng = np.random.default_rng(1)
    board = chess.Board()
    board.push_uci("e2e4")
    legal = 0
    for _ in range(20):
        move, responses = player.paper_sample(board, 1.0, rng)
        assert 1 <= len(responses) <= 5 and all(len(r) <= 10 for r in responses)
        legal += move is not None and move in board.legal_moves
    assert legal >= 3  # the tiny model writes noisy SAN at tau 1: the paper's sampler often fails, as the paper saw
    greedy, _ = player.paper_sample(board, 0.0, rng)
    assert greedy == player.paper_sample(board, 0.0, rng)[0]  # temperature 0: greedy per character
    monkeypatch.setattr(NanoGPTBackend, "sample_text", lambda self, game, t, rng: " zz9 ")
    assert player.paper_sample(board, 1.0, rng) == (None, [" zz9 "] * 5)


def test_random_init_model_of_the_published_size_builds() -> None:
    cfg = NanoGPTConfig()  # 16 x 8 x 512, block 1023: the published checkpoints
    assert 50e6 < NanoGPT(cfg).num_parameters() < 52e6
    with pytest.raises(ValueError, match="vocab_size"):
        NanoGPTConfig(vocab_size=50304)
    random.seed(0)
