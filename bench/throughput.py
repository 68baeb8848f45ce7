"""``python -m chessformer.bench throughput``: per backend and batch size, latency per ply and moves/s.

A step advances every game of the batch by one ply (one new token each), as a batched
match or the engine after the opponent's reply does. For each (backend, batch): the
median over ``steps`` timed steps of the step's wall time (the per-move latency of
every game in the batch), moves/s = batch / latency, and the fraction of the machine's
measured matmul peak that 2 x parameters FLOPs per move represent (x 65 for a squares
model, which reads 65 tokens a move). The sequences carry what the model reads (its feature
rows: the board after every move, its threats, the ratings); the tokenizer's time to build
them for the step is measured apart (``encode_ms``), as the engine spends it on every move too.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import chess
import torch

from chessformer.engine.backends.base import Backend, Evaluation
from chessformer.engine.model import SQUARE_TOKENS, ChessFormer
from chessformer.engine.perf import measure_matmul_peak
from chessformer.engine.tokenizer import TokenSequence, encode_board

PLAIN_EAGER = "plain-eager"  # the baseline: no cache, no batching (not an engine backend)
RANDOM_NANOGPT = "random-nanogpt"  # --weights value: a random-init nanoGPT of the paper's published size

DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class ThroughputRow:
    backend: str
    batch: int  # games advanced together (count)
    latency_ms: float  # median wall time of one step (milliseconds)
    moves_per_s: float  # batch / latency
    peak_fraction: float  # 2 * parameters * moves/s / measured peak (fp32 or bf16 as the backend computes)
    single_step: str = "-"  # how the backend runs a batch of one: native (C), trace, eager; "-" if it has no such path
    encode_ms: float = (
        0.0  # median wall time of the step's encode_board calls, the model's rows included (milliseconds)
    )


class PlainEagerBackend(Backend):
    """The plain eager torch path the fast backends are measured against: each sequence is
    recomputed from its first token, one at a time, fp32, no KV cache (a naive engine)."""

    name = PLAIN_EAGER

    def __init__(self, model: ChessFormer) -> None:
        self.model = model.float().eval()

    @property
    def block_size(self) -> int:
        return self.model.cfg.block_size

    @torch.inference_mode()
    def evaluate(self, sequences: Sequence[TokenSequence]) -> list[Evaluation]:
        out = []
        for seq in sequences:
            tok = torch.tensor([seq.tokens()])  # [1, T]
            anchor = torch.tensor([seq.anchor])  # [1, F]
            policy, value, _ = self.model(tok, anchor, None, last_only=True)
            out.append(Evaluation(policy[0, -1].numpy(), value[0, -1].numpy()))
        return out


def _games(batch: int, plies: int, seed: int) -> list[chess.Board]:
    rng = random.Random(seed)
    boards = []
    for _ in range(batch):
        b = chess.Board()
        for _ in range(plies):
            legal = list(b.legal_moves)
            if not legal:  # a random game that ended early: it stays shorter
                break
            b.push(rng.choice(legal))
        boards.append(b)
    return boards


def measure(
    backend: Backend, batch: int, steps: int, warmup: int = 3, seed: int = 0, scattered: bool = False, plies: int = 10
) -> tuple[float, float]:
    """Median seconds for one batched ply of ``batch`` games, ``plies`` plies in (10: the opening),
    and median seconds of that step's encoding (the tokenizer's work, the model's rows included).

    scattered: the games start on every other cache slot (twice as many are prefilled and
    every other one is played on), as in a batched match after games end and new ones take
    free slots wherever they are.
    """
    boards = _games(2 * batch if scattered else batch, plies, seed)
    rng = random.Random(seed + 1)
    backend.clear_cache()
    inputs = backend.inputs
    spec = None if inputs.plain else inputs  # ratings unknown: the same work as known ones
    backend.evaluate([encode_board(b, backend.block_size, spec) for b in boards])  # prefill
    if scattered:
        boards = boards[::2]
    times, encode_times = [], []
    for i in range(warmup + steps):
        for b in boards:
            legal = list(b.legal_moves)
            if not legal or b.ply() >= backend.block_size - 2:
                b.pop()
                legal = list(b.legal_moves)
            b.push(rng.choice(legal))
        t_encode = time.perf_counter()
        seqs = [encode_board(b, backend.block_size, spec) for b in boards]
        t0 = time.perf_counter()
        backend.evaluate(seqs)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            encode_times.append(t0 - t_encode)
    return statistics.median(times), statistics.median(encode_times)


def run_throughput(
    model: Any,
    backends: list[str],
    batches: tuple[int, ...],
    steps: int,
    threads: int,
    scattered: bool = False,
    plies: int = 10,
) -> tuple[list[ThroughputRow], dict[str, float]]:
    from chessformer.engine.loader import make_backend

    torch.set_num_threads(threads)
    peaks = {"fp32": measure_matmul_peak(torch.float32), "bf16": measure_matmul_peak(torch.bfloat16)}
    # a squares model reads 65 tokens a move (engine/model.py); the others one new token
    rows = []
    from chessformer.engine.nanogpt import NanoGPT

    if isinstance(model, NanoGPT):  # the paper's character model: its one backend, exact move log-probabilities
        from chessformer.engine.backends.nanogpt_backend import NanoGPTBackend

        nano = NanoGPTBackend(model, cache_mb=4096)
        for batch in batches:
            lat, enc = measure(nano, batch, steps, plies=plies)
            label = f"nanogpt ({str(nano.dtype).removeprefix('torch.')} matmuls)"
            # FLOPs vary with the move tree: no peak fraction
            rows.append(ThroughputRow(label, batch, lat * 1000, batch / lat, 0.0, encode_ms=enc * 1000))
        return rows, peaks
    flops_per_move = 2 * model.num_parameters() * (SQUARE_TOKENS if model.squares else 1)
    for name in backends:
        import copy

        if name == PLAIN_EAGER:
            be: Backend = PlainEagerBackend(copy.deepcopy(model))
        else:
            be = make_backend(name, copy.deepcopy(model), "throughput", hash_mb=4096)
        precision = (
            "bf16" if getattr(getattr(be, "cache", None), "k", torch.zeros(0)).dtype == torch.bfloat16 else "fp32"
        )
        for batch in batches:
            if name in ("torch", PLAIN_EAGER) and batch > 32:
                continue  # these evaluate one sequence at a time: large batches only repeat batch 1
            lat, enc = measure(be, batch, steps, scattered=scattered, plies=plies)
            mps = batch / lat
            step = getattr(be, "single_step", "-")
            fraction = flops_per_move * mps / peaks[precision]
            rows.append(ThroughputRow(name, batch, lat * 1000, mps, fraction, step, enc * 1000))
    return rows, peaks


def format_rows(rows: list[ThroughputRow]) -> str:
    head = f"{'backend':<12} {'batch':>5} {'latency ms':>11} {'moves/s':>10} {'of peak':>8} {'encode ms':>10}  batch-1 step"
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.backend:<12} {r.batch:>5} {r.latency_ms:>11.3f} {r.moves_per_s:>10.0f} {100 * r.peak_fraction:>7.2f}%"
            f" {r.encode_ms:>10.3f}  {r.single_step if r.batch == 1 else ''}"
        )
    return "\n".join(lines)


def report(
    weights: str,
    backends: list[str],
    batches: tuple[int, ...],
    steps: int,
    threads: int,
    scattered: bool = False,
    plies: int = 10,
) -> str:
    from chessformer.engine.weights import load_weights, resolve_weights

    if weights == RANDOM_NANOGPT:  # the published checkpoints' shape with random weights: a speed check
        from chessformer.engine.nanogpt import NanoGPT, NanoGPTConfig

        torch.manual_seed(0)
        model: Any = NanoGPT(NanoGPTConfig()).eval()
        name = "random-init nanoGPT 16 x 8 x 512, block 1023"
    else:
        model, info = load_weights(resolve_weights(weights))
        name = info.path.name
    rows, peaks = run_throughput(model, backends, batches, steps, threads, scattered, plies)
    summary = {
        "weights": name,
        "parameters": model.num_parameters(),
        "threads": threads,
        "scattered": scattered,
        "plies": plies,
        "peak_flops": peaks,
        "rows": [asdict(r) for r in rows],
    }
    return format_rows(rows) + "\n" + json.dumps(summary)


def cli(argv: list[str]) -> int:
    """``python -m chessformer.bench throughput``."""

    p = argparse.ArgumentParser(
        prog="python -m chessformer.bench throughput", description="Latency and moves/s per backend and batch size."
    )
    p.add_argument(
        "--weights",
        default="<bundled>",
        help="a weights file (a paper ckpt_*.pt too), or random-nanogpt: the paper's 16 x 8 x 512 model, random init",
    )
    p.add_argument(
        "--backend",
        action="append",
        help="repeatable; an engine backend or plain-eager (the baseline: no cache, full recompute); "
        "default torch, cpu-fast, cuda-graph, onnx",
    )
    p.add_argument("--batches", default=",".join(map(str, DEFAULT_BATCHES)))
    p.add_argument("--steps", type=int, default=20, help="timed plies per measurement")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--scattered", action="store_true", help="games start on every other cache slot (needs 2 x batch slots)"
    )
    p.add_argument("--plies", type=int, default=10, help="plies already played in each game (10: the opening)")
    a = p.parse_args(argv)
    try:
        print(
            report(
                a.weights,
                a.backend or ["torch", "cpu-fast", "cuda-graph", "onnx"],
                tuple(int(b) for b in a.batches.split(",")),
                a.steps,
                a.threads,
                a.scattered,
                a.plies,
            )
        )
    except Exception as e:  # noqa: BLE001 - a clear line rather than a traceback
        print(f"throughput: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 0
