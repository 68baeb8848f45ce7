"""The batch-1 decode step in C (engine/backends/native_step.py) against torch's decode_step."""

from __future__ import annotations

import copy
import logging
import random

import pytest
import torch

from chessformer.engine.backends.cpu_fast import CpuFastBackend
from chessformer.engine.backends.native_step import (
    NativeDecodeStep,
    NativeUnavailable,
    build_library,
    quantize_rows_int8,
)
from chessformer.engine.backends.static_step import StaticKVCache, decode_step
from chessformer.engine.model import ChessFormer
from chessformer.engine.tokenizer import MAX_FEATURES, N_MOVES, PAD_FEATURE, POS_ID, encode_board

FP32_TOL = 1e-4  # the same arithmetic in another order
INT8_LOGIT_TOL = 0.6  # as cpu-int8's torch.ao path (tests/test_backends.py); measured ~0.25 on the bundled model


def _bundled() -> ChessFormer:
    from chessformer.engine.weights import load_weights

    model, _ = load_weights("engine/models/default.safetensors")
    return model.float().eval()


def _run_game(model: ChessFormer, int8: bool, steps: int, slot: int = 3) -> tuple[float, float, float]:
    """Decode ``steps`` tokens in C and in torch; the largest logit, value and cache differences."""
    import chess

    cache = StaticKVCache(model, 5, model.cfg.block_size, torch.float32, torch.device("cpu"))
    native = NativeDecodeStep(model, cache, int8=int8)
    H, D = model.cfg.n_head, model.cfg.n_embd // model.cfg.n_head
    ref_k = torch.zeros(model.cfg.n_layer, 1, H, model.cfg.block_size, D)  # [L, 1, H, Tmax, D]
    ref_v = torch.zeros_like(ref_k)
    board = chess.Board("r3k2r/pppq1ppp/2np1n2/4p3/4P3/2NP1N2/PPPQ1PPP/R3K2R w KQkq - 0 1")
    anchor = torch.tensor([encode_board(board, model.cfg.block_size).anchor])  # [1, F]
    assert anchor.shape[1] == MAX_FEATURES and PAD_FEATURE in anchor[0].tolist()  # padding is summed too
    rng = random.Random(7)
    worst_policy = worst_value = 0.0
    for pos in range(steps):
        token = POS_ID if pos == 0 else rng.randrange(N_MOVES)
        with torch.inference_mode():
            want_p, want_v, k_new, v_new = decode_step(
                model, torch.tensor([token]), anchor, torch.tensor([pos]), ref_k, ref_v
            )
        ref_k[:, :, :, pos], ref_v[:, :, :, pos] = k_new, v_new
        got_p, got_v = native(slot, token, anchor[0], pos)
        worst_policy = max(worst_policy, float((got_p - want_p).abs().max()))
        worst_value = max(worst_value, float((got_v - want_v).abs().max()))
    worst_cache = float((cache.k[:, slot : slot + 1, :, :steps] - ref_k[:, :, :, :steps]).abs().max())
    assert float(cache.k[:, slot - 1].abs().max()) == 0.0 and float(cache.v[:, slot + 1].abs().max()) == 0.0
    return worst_policy, worst_value, worst_cache


def test_fp32_step_matches_torch_on_a_tiny_model(tiny_model: ChessFormer) -> None:
    p, v, k = _run_game(tiny_model.float().eval(), int8=False, steps=tiny_model.cfg.block_size)
    assert p < FP32_TOL and v < FP32_TOL and k < FP32_TOL


def test_fp32_step_matches_torch_on_the_bundled_model() -> None:
    p, v, k = _run_game(_bundled(), int8=False, steps=90)
    assert p < FP32_TOL and v < FP32_TOL and k < FP32_TOL


def test_int8_step_stays_near_torch_on_the_bundled_model() -> None:
    p, v, k = _run_game(_bundled(), int8=True, steps=90)
    assert p < INT8_LOGIT_TOL and v < INT8_LOGIT_TOL and k < INT8_LOGIT_TOL
    assert p > 1e-3  # it did quantise: an int8 step equal to fp32 would mean the int8 path never ran


def test_row_quantisation_round_trips() -> None:
    w = torch.randn(6, 40)
    w[2] = 0.0  # an all-zero row must not divide by zero
    q, s = quantize_rows_int8(w)
    assert q.dtype == torch.int8 and s.shape == (6,)
    assert int(q.abs().max()) == 127
    assert float((q.float() * s[:, None] - w).abs().max()) <= float(s.max()) / 2 + 1e-6


def test_bad_slot_and_position_are_errors(tiny_model: ChessFormer) -> None:
    cache = StaticKVCache(tiny_model, 2, tiny_model.cfg.block_size, torch.float32, torch.device("cpu"))
    native = NativeDecodeStep(tiny_model.float().eval(), cache)
    anchor = torch.full((MAX_FEATURES,), PAD_FEATURE, dtype=torch.long)
    with pytest.raises(ValueError, match="slot 2"):
        native(2, POS_ID, anchor, 0)
    with pytest.raises(ValueError, match="position"):
        native(0, 5, anchor, tiny_model.cfg.block_size)
    with pytest.raises(ValueError, match="token 99999"):
        native(0, 99999, anchor, 1)
    with pytest.raises(ValueError, match="token -1"):
        native(0, -1, anchor, 1)
    bad_board = anchor.clone()
    bad_board[0] = 10**6
    with pytest.raises(ValueError, match="feature id"):
        native(0, POS_ID, bad_board, 0)
    with pytest.raises(ValueError, match="feature id"):  # a move token reads its row too (board_every_ply, ratings)
        native(0, 5, bad_board, 1)
    with pytest.raises(ValueError, match="int64"):
        native(0, POS_ID, anchor.to(torch.int32), 0)
    with pytest.raises(NativeUnavailable, match="float32"):
        NativeDecodeStep(tiny_model, StaticKVCache(tiny_model, 2, 8, torch.bfloat16, torch.device("cpu")))


def test_library_is_built_once_per_machine_and_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CHESSFORMER_CACHE", str(tmp_path))
    first = build_library()
    assert first.parent == tmp_path and first.suffix == ".so"
    stamp = first.stat().st_mtime_ns
    assert build_library() == first and first.stat().st_mtime_ns == stamp  # found, not rebuilt
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary files left behind


def test_without_a_compiler_the_backend_falls_back_to_the_trace(
    tiny_model: ChessFormer, tmp_path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("CHESSFORMER_CACHE", str(tmp_path))  # an empty cache: it would have to compile
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises(NativeUnavailable, match="no C compiler"):
        build_library()
    monkeypatch.setenv("CC", "false")  # a compiler that fails
    with pytest.raises(NativeUnavailable, match="false failed"):
        build_library()
    with caplog.at_level(logging.INFO, logger="chessformer"):
        be = CpuFastBackend(copy.deepcopy(tiny_model), slots=4)
    assert be.single_step == "trace" and "TorchScript trace, not C" in caplog.text
    monkeypatch.delenv("CC")
    monkeypatch.setenv("CHESSFORMER_NATIVE", "0")
    assert CpuFastBackend(copy.deepcopy(tiny_model), slots=4).single_step == "trace"


@pytest.mark.parametrize("int8", [False, True], ids=["fp32", "int8"])
def test_threads_split_rows_without_changing_a_bit(int8: bool) -> None:
    """The pool gives each thread whole rows, so 1, 2 or 3 threads compute the same numbers;
    the pool follows torch's thread count (the Threads option) between steps."""
    model = _bundled()
    cache = StaticKVCache(model, 2, model.cfg.block_size, torch.float32, torch.device("cpu"))
    native = NativeDecodeStep(model, cache, int8=int8)
    anchor = torch.tensor(encode_board(__import__("chess").Board(), model.cfg.block_size).anchor)
    before = torch.get_num_threads()
    results = {}
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            steps = []
            for pos in range(40):
                policy, value = native(1, POS_ID if pos == 0 else 100 + pos, anchor, pos)
                steps.append(torch.cat([policy[0], value[0]]).clone())
            assert native.threads == threads
            results[threads] = torch.stack(steps)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(results[1], results[2]) and torch.equal(results[1], results[3])
    native.close()
    assert native.threads == 1


def test_a_forked_child_steps_without_its_parents_threads(tiny_model: ChessFormer) -> None:
    """A pool's workers do not survive fork: the child makes its own instead of waiting on them."""
    import os

    cache = StaticKVCache(tiny_model, 2, tiny_model.cfg.block_size, torch.float32, torch.device("cpu"))
    native = NativeDecodeStep(tiny_model.float().eval(), cache)
    anchor = torch.full((MAX_FEATURES,), PAD_FEATURE, dtype=torch.long)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        want = native(0, POS_ID, anchor, 0)[0].clone()
        assert native.threads == 2
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # the child: one step, its logits down the pipe, then out without cleanup
            os.close(read_end)
            os.write(write_end, native(0, POS_ID, anchor, 0)[0].numpy().tobytes())
            os._exit(0)
        os.close(write_end)
        import select
        import signal
        import time

        deadline, status = time.monotonic() + 60, None
        while status is None and time.monotonic() < deadline:  # a child waiting on missing workers hangs
            pid, st = os.waitpid(child, os.WNOHANG)
            status = st if pid else None
            time.sleep(0.05)
        if status is None:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        data = os.read(read_end, 1 << 20) if select.select([read_end], [], [], 0)[0] else b""
        os.close(read_end)
    finally:
        torch.set_num_threads(before)
    assert status is not None, "the forked child hung in its step"
    assert os.waitstatus_to_exitcode(status) == 0
    assert torch.equal(torch.frombuffer(bytearray(data), dtype=torch.float32), want[0])  # want: [1, M]


def test_compiled_steps_and_tensorrt_plans_share_one_cache_root(tmp_path, monkeypatch) -> None:
    from chessformer.engine.backends.build_cache import build_cache_root
    from chessformer.engine.backends.tensorrt_backend import default_cache_dir

    monkeypatch.delenv("CHESSFORMER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert build_cache_root() == tmp_path / "xdg" / "chessformer"
    assert default_cache_dir() == tmp_path / "xdg" / "chessformer" / "tensorrt"
    monkeypatch.setenv("CHESSFORMER_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine" / "tensorrt"
    assert build_library().parent == tmp_path / "mine"
