"""Every backend against the torch reference (tolerance: 1e-4 on fp32 logits), and the GPU logic on CPU."""

from __future__ import annotations

import copy
import random

import chess
import numpy as np
import pytest
import torch

from chessformer.engine.backends.check import CheckBackend
from chessformer.engine.backends.cpu_fast import CpuFastBackend, CpuInt8Backend
from chessformer.engine.backends.cuda_graph import BUCKETS, CudaGraphBackend, bucket_for
from chessformer.engine.backends.onnx_backend import GraphBackend, OrtRunner
from chessformer.engine.backends.tensorrt_backend import PRECISIONS, plan_key, profiles
from chessformer.engine.backends.torch_backend import TorchBackend
from chessformer.engine.model import ChessFormer, ModelConfig
from chessformer.engine.player import Player
from chessformer.engine.tokenizer import encode_board

TOL = 1e-4


def _backends(model: ChessFormer, tmp_path):
    yield "cpu-fast", CpuFastBackend(copy.deepcopy(model), slots=16)  # batch 1 in C
    yield "cpu-fast-trace", CpuFastBackend(copy.deepcopy(model), slots=16, native=False)  # batch 1 traced
    yield "cuda-graph", CudaGraphBackend(copy.deepcopy(model), slots=16)
    yield "onnx", GraphBackend(copy.deepcopy(model), OrtRunner(copy.deepcopy(model), tmp_path / "onnx"), slots=16)


def _games(n: int, plies: int, seed: int) -> list[chess.Board]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        b = chess.Board() if i % 3 else chess.Board("r3k2r/pppq1ppp/2np1n2/4p3/4P3/2NP1N2/PPPQ1PPP/R3K2R w KQkq - 0 1")
        for _ in range(rng.randint(0, plies)):
            if b.is_game_over():
                break
            b.push(rng.choice(list(b.legal_moves)))
        out.append(b)
    return out


def test_parity_single_games_with_forks_and_reanchoring(tiny_model: ChessFormer, tmp_path) -> None:
    _single_game_parity(tiny_model, tmp_path)


@pytest.mark.parametrize("threats", [False, True])
def test_parity_board_every_ply_and_rating_condition(tmp_path, threats: bool) -> None:
    """The per-token rows (board after each move, its threats, two rating features) through every backend, int8 too."""
    torch.manual_seed(3)
    cfg = ModelConfig(
        n_layer=2,
        n_head=2,
        n_embd=32,
        block_size=32,
        board_every_ply=True,
        rating_condition=True,
        threat_inputs=threats,
    )
    model = ChessFormer(cfg).eval()
    ratings = (("fide", 2650), ("lichess", 1500))
    _single_game_parity(model, tmp_path, ratings)
    int8 = CpuInt8Backend(copy.deepcopy(model), slots=16)
    reference = TorchBackend(copy.deepcopy(model), device="cpu")
    for b in _games(6, 60, seed=4):
        p8, pr = Player(int8, ratings), Player(reference, ratings)
        a, r = p8.evaluate(b), pr.evaluate(b)
        assert a.moves[0] == r.moves[0] or abs(a.logits[0] - r.logits[0]) < 0.05
        assert np.abs(np.sort(a.logits) - np.sort(r.logits)).max() < 0.05
    assert int8.single_step == "native"


def test_ratings_and_boards_change_the_output(tmp_path) -> None:
    """A rating-conditioned model's logits depend on the ratings; a plain model's do not."""
    torch.manual_seed(5)
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, board_every_ply=True, rating_condition=True)
    be = TorchBackend(ChessFormer(cfg).eval(), device="cpu")
    board = _games(1, 20, seed=9)[0]
    strong = Player(be, (("fide", 2700), ("fide", 2700))).evaluate(board).logits
    weak = Player(be, (("lichess", 900), ("lichess", 900))).evaluate(board).logits
    assert np.abs(strong - weak).max() > 1e-4
    plain = TorchBackend(ChessFormer(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=32)).eval())
    a = Player(plain, (("fide", 2700), (None, None))).evaluate(board).logits
    b = Player(plain, (("lichess", 900), (None, None))).evaluate(board).logits
    assert np.array_equal(a, b)


def test_threat_inputs_change_the_output_and_zero_rows_change_nothing() -> None:
    """A threat model reads its threat rows; with those rows at zero it computes what the same model
    without threats does (how training grows a model: training/train.py init_from)."""
    torch.manual_seed(6)
    base = ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, board_every_ply=True, rating_condition=True)
    plain = ChessFormer(base).eval()
    threat = ChessFormer(ModelConfig(**{**base.to_dict(), "threat_inputs": True})).eval()
    state = plain.state_dict()
    grown = torch.zeros_like(threat.feat_emb.weight)
    grown[: state["feat_emb.weight"].shape[0]] = state["feat_emb.weight"]
    threat.load_state_dict({**state, "feat_emb.weight": grown})
    ratings = (("fide", 2700), ("fide", 2700))
    board = chess.Board("r1bqkbnr/pppp1ppp/2n5/4p3/3PP3/5N2/PPP2PPP/RNBQKB1R b KQkq - 0 3")  # e5 attacked by d4 and f3
    a = Player(TorchBackend(plain, device="cpu"), ratings).evaluate(board).logits
    b = Player(TorchBackend(copy.deepcopy(threat), device="cpu"), ratings).evaluate(board).logits
    assert np.abs(a - b).max() < 1e-5
    with torch.no_grad():
        threat.feat_emb.weight[base.n_features :].normal_(0, 0.5)
    c = Player(TorchBackend(threat, device="cpu"), ratings).evaluate(board).logits
    assert np.abs(a - c).max() > 1e-3


def _single_game_parity(model: ChessFormer, tmp_path, ratings=((None, None), (None, None))) -> None:  # type: ignore[no-untyped-def]
    for name, be in _backends(model, tmp_path):
        check = CheckBackend(be, TorchBackend(copy.deepcopy(model), device="cpu"), tolerance=TOL)
        player = Player(check, ratings)
        rng = random.Random(1)
        b = chess.Board()
        for _ in range(70):  # the tiny window is 32 tokens: re-anchors at plies 31, 47, 63
            if b.is_game_over():
                break
            ev = player.evaluate(b)
            kids = []
            for m in ev.moves[:3]:  # multipv-style probes: children of the same position
                c = b.copy()
                c.push(m)
                if any(c.legal_moves):
                    kids.append(c)
            player.evaluate_many(kids)
            b.push(rng.choice(list(b.legal_moves)))
        assert check.batches > 100
        assert check.max_policy_diff < TOL and check.max_value_diff < TOL, (name, check.max_policy_diff)
        if isinstance(be, CpuFastBackend):
            assert be.single_step == ("trace" if name.endswith("trace") else "native")
            assert be.single_step_calls > 50  # the game's own plies went through the batch-1 C step or trace


def test_parity_batched_games_of_different_lengths(tiny_model: ChessFormer, tmp_path) -> None:
    _batched_parity(tiny_model, tmp_path)


def test_parity_board_reading_window(tmp_path) -> None:
    """block_size 2: every sequence is [POS(board a ply back), last move], re-anchored every ply."""
    torch.manual_seed(0)
    model = ChessFormer(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=2)).eval()
    assert [len(encode_board(b, 2)) for b in _games(6, 25, seed=2)] == [
        1 if not b.move_stack else 2 for b in _games(6, 25, seed=2)
    ]
    _batched_parity(model, tmp_path)


def _batched_parity(model: ChessFormer, tmp_path) -> None:
    ref = TorchBackend(copy.deepcopy(model), device="cpu")
    for name, be in _backends(model, tmp_path):
        boards = _games(11, 25, seed=2)
        for _ply in range(6):
            seqs = [encode_board(b, be.block_size) for b in boards]
            got, want = be.evaluate(seqs), ref.evaluate(seqs)
            for g, w in zip(got, want, strict=True):
                assert np.abs(g.policy_logits - w.policy_logits).max() < TOL, name
            for b in boards:
                if not b.is_game_over():
                    b.push(next(iter(b.legal_moves)))
        if model.cfg.block_size > 2:
            assert be.decode_calls > 0  # type: ignore[attr-defined]
        else:  # re-anchored every ply: every row prefills, in one forward per length per ply
            assert be.decode_calls == 0 and be.prefill_calls <= 2 * 6  # type: ignore[attr-defined]


def test_scattered_slots_are_packed_once_and_stay_correct(tiny_model: ChessFormer) -> None:
    """Rows whose slots are scattered are swapped into one run (a view, not a copy, per step);
    every cached game, moved or not, still evaluates as the reference does."""
    ref = TorchBackend(copy.deepcopy(tiny_model), device="cpu")
    be = CpuFastBackend(copy.deepcopy(tiny_model), slots=32)
    boards = [b for b in _games(40, 20, seed=5) if len(b.move_stack) > 2 and not b.is_game_over()][:20]
    assert len(boards) == 20

    def check(bs: list[chess.Board]) -> None:
        seqs = [encode_board(b, be.block_size) for b in bs]
        for g, w in zip(be.evaluate(seqs), ref.evaluate(seqs), strict=True):
            assert np.abs(g.policy_logits - w.policy_logits).max() < TOL

    def advance(bs: list[chess.Board]) -> None:
        for b in bs:
            if not b.is_game_over():
                b.push(next(iter(b.legal_moves)))

    check(boards)  # 20 slots in one run
    evens, odds = boards[0::2], boards[1::2]
    advance(evens)
    check(evens)  # 10 rows on every other slot: packed
    packed = be.pack_swaps
    assert packed > 0
    advance(evens)
    check(evens)  # the same games go on: already a run, no new swaps
    assert be.pack_swaps == packed
    check(odds)  # cached, though some were moved by the swaps
    advance(odds)
    check(odds)


def test_batched_decode_is_one_forward_per_ply(tiny_model: ChessFormer) -> None:
    be = CpuFastBackend(copy.deepcopy(tiny_model), slots=32)
    boards = [chess.Board() for _ in range(20)]
    be.evaluate([encode_board(b, be.block_size) for b in boards])
    calls = be.decode_calls
    for b in boards:
        b.push(chess.Move.from_uci("e2e4"))
        b.push(chess.Move.from_uci("e7e5"))
    be.evaluate([encode_board(b, be.block_size) for b in boards])
    assert be.decode_calls - calls == 2  # two new plies for 20 games: two batched steps


def test_cuda_graph_buckets_and_padding_rows(tiny_model: ChessFormer) -> None:
    assert [bucket_for(n) for n in (1, 2, 3, 5, 200, 256)] == [1, 2, 4, 8, 256, 256]
    assert BUCKETS[-1] == 256
    with pytest.raises(ValueError):
        bucket_for(257)
    be = CudaGraphBackend(copy.deepcopy(tiny_model), slots=16)
    ref = TorchBackend(copy.deepcopy(tiny_model), device="cpu")
    # a batch of 7 then a batch of 5 in the same bucket (8): stale rows must not write into live slots
    boards = _games(7, 10, seed=3)
    be.evaluate([encode_board(b, 32) for b in boards])
    for b in boards:
        if not b.is_game_over():
            b.push(next(iter(b.legal_moves)))
    few = boards[:5]
    got = be.evaluate([encode_board(b, 32) for b in few])
    for b in boards[5:]:
        if not b.is_game_over():
            b.push(next(iter(b.legal_moves)))
    rest = be.evaluate([encode_board(b, 32) for b in boards[5:]])
    want = ref.evaluate([encode_board(b, 32) for b in few + boards[5:]])
    for g, w in zip(got + rest, want, strict=True):
        assert np.abs(g.policy_logits - w.policy_logits).max() < TOL
    assert 8 in be._steps and 2 in be._steps  # the 7- and 5-row batches share bucket 8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graph capture needs a CUDA GPU (none on this machine)")
def test_cuda_graph_capture_on_gpu(tiny_model: ChessFormer) -> None:
    be = CudaGraphBackend(copy.deepcopy(tiny_model), slots=16, dtype=torch.float32)
    assert be.capture
    ref = TorchBackend(copy.deepcopy(tiny_model), device="cpu")
    boards = _games(5, 20, seed=4)
    for g, w in zip(
        be.evaluate([encode_board(b, 32) for b in boards]),
        ref.evaluate([encode_board(b, 32) for b in boards]),
        strict=True,
    ):
        assert np.abs(g.policy_logits - w.policy_logits).max() < 1e-3


def test_tensorrt_plan_key_and_profiles(tiny_model: ChessFormer) -> None:
    cfg = tiny_model.cfg
    base = plan_key("10.0", "A100", "abc", "fp16", cfg)
    assert base == plan_key("10.0", "A100", "abc", "fp16", cfg)
    for changed in (
        plan_key("10.1", "A100", "abc", "fp16", cfg),
        plan_key("10.0", "H100", "abc", "fp16", cfg),
        plan_key("10.0", "A100", "abd", "fp16", cfg),
        plan_key("10.0", "A100", "abc", "bf16", cfg),
    ):
        assert changed != base
    with pytest.raises(ValueError):
        plan_key("10.0", "A100", "abc", "int3", cfg)
    p = profiles(cfg)
    lo, opt, hi = p["decode"]["k_cache"]
    assert lo[1] == 1 and hi[1] == 256 and lo[3] == cfg.block_size
    assert p["prefill"]["tokens"][2][1] == cfg.block_size
    assert set(PRECISIONS) == {"fp32", "fp16", "bf16"}


def test_tensorrt_build_and_run_on_gpu(tiny_model: ChessFormer, tmp_path) -> None:
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (no GPU on this machine)")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU (none on this machine)")
    from chessformer.engine.backends.tensorrt_backend import TensorRTBackend

    be = TensorRTBackend(copy.deepcopy(tiny_model), "sha", "fp32", cache_dir=tmp_path, slots=16)
    ref = TorchBackend(copy.deepcopy(tiny_model), device="cpu")
    boards = _games(4, 20, seed=5)
    for g, w in zip(
        be.evaluate([encode_board(b, 32) for b in boards]),
        ref.evaluate([encode_board(b, 32) for b in boards]),
        strict=True,
    ):
        assert np.abs(g.policy_logits - w.policy_logits).max() < 1e-2
    assert trt is not None


def test_uci_backend_option(tiny_weights) -> None:
    from tests.engine.uci_script import Session

    for name in ("cpu-fast", "cpu-int8", "cuda-graph", "onnx", "check", "auto"):
        s = Session()
        s.send(f"setoption name WeightsFile value {tiny_weights}")
        s.send(f"setoption name Backend value {name}")
        s.send("isready")
        assert f"backend {name if name != 'auto' else 'cpu-fast'}" in s.expect("^info string model")
        s.send("position startpos moves e2e4")
        s.send("go")
        assert s.expect("^bestmove") != "bestmove 0000"
    s = Session()
    s.send(f"setoption name WeightsFile value {tiny_weights}")
    s.send("setoption name Backend value tensorrt")
    s.send("isready")
    line = s.expect("^info string cannot load")
    assert "tensorrt" in line


def test_throughput_command_reports_every_backend(tiny_weights) -> None:
    import json as _json

    from chessformer.bench.throughput import report

    out = report(str(tiny_weights), ["plain-eager", "torch", "cpu-fast"], (1, 4), steps=2, threads=1, plies=20)
    summary = _json.loads(out.splitlines()[-1])
    assert {(r["backend"], r["batch"]) for r in summary["rows"]} == {
        (name, b) for name in ("plain-eager", "torch", "cpu-fast") for b in (1, 4)
    }
    assert all(r["latency_ms"] > 0 and r["moves_per_s"] > 0 for r in summary["rows"])
    assert {r["backend"]: r["single_step"] for r in summary["rows"]} == {
        "plain-eager": "-",
        "torch": "-",
        "cpu-fast": "native",
    }
    assert summary["plies"] == 20


def test_plain_eager_baseline_matches_the_reference(tiny_model: ChessFormer) -> None:
    """The throughput baseline recomputes every sequence; its logits are the reference's."""
    from chessformer.bench.throughput import PlainEagerBackend

    seqs = [encode_board(b, tiny_model.cfg.block_size) for b in _games(5, 40, seed=3)]
    got = PlainEagerBackend(copy.deepcopy(tiny_model)).evaluate(seqs)
    want = TorchBackend(copy.deepcopy(tiny_model), device="cpu").evaluate(seqs)
    for g, w in zip(got, want, strict=True):
        assert np.abs(g.policy_logits - w.policy_logits).max() < TOL


def test_throughput_scattered_slots_are_packed(tiny_weights) -> None:
    """--scattered starts the batch on every other slot; the slot backend packs it into a run."""
    from chessformer.bench.throughput import measure
    from chessformer.engine.loader import load_model

    be = load_model(str(tiny_weights), "cpu-fast", 1, 64).player.backend
    assert isinstance(be, CpuFastBackend) and be.cache.slots >= 16
    latency, encode = measure(be, 8, steps=2, scattered=True)
    assert latency > 0 and encode > 0
    assert be.pack_swaps > 0


def test_throughput_feeds_the_models_rows() -> None:
    """The bench times what the engine evaluates: a threat model's sequences carry its full rows."""
    from chessformer.bench.throughput import measure

    torch.manual_seed(2)
    cfg = ModelConfig(
        n_layer=1, n_head=2, n_embd=16, block_size=32, board_every_ply=True, rating_condition=True, threat_inputs=True
    )
    widths = []

    class Recording(TorchBackend):
        def evaluate(self, sequences):  # type: ignore[no-untyped-def]
            widths.extend(len(s.row(len(s) - 1)) if s.rows is not None else 0 for s in sequences)
            return super().evaluate(sequences)

    latency, encode = measure(Recording(ChessFormer(cfg).eval(), device="cpu"), 2, steps=2, warmup=1)
    assert latency > 0 and encode > 0
    assert widths and set(widths) == {cfg.row_width}


INT8_LOGIT_TOL = 0.6  # int8 weights: logits of the bundled model move by up to ~0.36 (measured)
INT8_PROB_TOL = 0.1  # ... and legal-move probabilities by up to ~0.055


@pytest.mark.parametrize("native", [True, False], ids=["batch-1-in-C", "batch-1-traced"])
def test_cpu_int8_parity_with_torch_on_the_bundled_model(native: bool) -> None:
    """Quantisation error is judged on real weights (a random tiny model's logits are all near 0)."""
    from chessformer.engine.backends.cpu_fast import CpuInt8Backend
    from chessformer.engine.weights import load_weights

    model, _ = load_weights("engine/models/default.safetensors")
    be = CpuInt8Backend(copy.deepcopy(model), slots=32, native=native)
    assert be.single_step == ("native" if native else "trace")
    assert not any(type(m) is torch.nn.Linear for m in be.model.modules())  # every linear layer is int8
    q, ref = Player(be), Player(TorchBackend(copy.deepcopy(model), device="cpu"))
    boards = _games(12, 50, seed=5)
    same = 0
    for _ply in range(4):
        singles = [q.evaluate(boards[0])]  # batch 1: the C step or the trace
        got, want = singles + q.evaluate_many(boards[1:]), ref.evaluate_many(boards)  # batched: eager
        for g, w in zip(got, want, strict=True):
            gl, wl = dict(zip(g.moves, g.logits, strict=True)), dict(zip(w.moves, w.logits, strict=True))
            gp, wp = dict(zip(g.moves, g.probs, strict=True)), dict(zip(w.moves, w.probs, strict=True))
            assert max(abs(gl[m] - wl[m]) for m in wl) < INT8_LOGIT_TOL
            assert max(abs(gp[m] - wp[m]) for m in wp) < INT8_PROB_TOL
            same += g.moves[0] == w.moves[0]
        for b in boards:
            if not b.is_game_over():
                b.push(next(iter(b.legal_moves)))
    assert same >= 0.85 * 4 * len(boards)
    assert be.single_step_calls >= 3  # plies 2-4 of the first game extend its cached sequence


def test_batches_larger_than_the_slots_are_evaluated_in_chunks(tiny_model: ChessFormer) -> None:
    """A slot backend evaluates a batch of more requests than it has slots (each may hold two: its
    own and its parent's) in chunks, as the reference does, children of one parent included."""
    ref = TorchBackend(copy.deepcopy(tiny_model), device="cpu")
    be = CpuFastBackend(copy.deepcopy(tiny_model), slots=8)
    board = chess.Board()
    for san in ("e4", "e5", "Nf3", "Nc6", "Bb5"):
        board.push_san(san)
    be.evaluate([encode_board(board, be.block_size)])  # the parent, cached
    children = []
    for move in board.legal_moves:  # 30 children of one parent, against 8 slots
        board.push(move)
        children.append(encode_board(board, be.block_size))
        board.pop()
    assert len(children) > be.cache.slots
    for g, w in zip(be.evaluate(children), ref.evaluate(children), strict=True):
        assert np.abs(g.policy_logits - w.policy_logits).max() < TOL
        assert np.abs(g.wdl_logits - w.wdl_logits).max() < TOL
