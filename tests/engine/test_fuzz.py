"""Thousands of random and malformed lines, then the engine must still answer and play legally."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import chess

WORDS = [
    "uci",
    "isready",
    "ucinewgame",
    "position",
    "startpos",
    "fen",
    "moves",
    "go",
    "stop",
    "ponderhit",
    "setoption",
    "name",
    "value",
    "Temperature",
    "Seed",
    "MultiPV",
    "Threads",
    "Hash",
    "UCI_ShowWDL",
    "UCI_Chess960",
    "Ponder",
    "WeightsFile",
    "Backend",
    "wtime",
    "btime",
    "winc",
    "binc",
    "movestogo",
    "movetime",
    "depth",
    "nodes",
    "infinite",
    "ponder",
    "searchmoves",
    "debug",
    "on",
    "off",
    "register",
    "e2e4",
    "e7e5",
    "e1g1",
    "a7a8q",
    "0000",
    "h9h9",
    "-1",
    "1e309",
    "nan",
    "inf",
    "0.3",
    "99999999999999999999",
    "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR",
    "w",
    "b",
    "KQkq",
    "-",
    "0",
    "1",
    "8/8/8/8/8/8/8/8",
    "<empty>",
    "true",
    "false",
    "auto",
    "torch",
    "💥",
    "\t",
]


def _line(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.6:
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
        return text.encode()
    if kind < 0.8:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 80))).replace(b"\n", b" ")
    if kind < 0.95:
        b = chess.Board()
        moves = []
        for _ in range(rng.randint(0, 30)):
            if b.is_game_over():
                break
            m = rng.choice(list(b.legal_moves))
            moves.append(m.uci())
            b.push(m)
        if moves and rng.random() < 0.5:
            moves.insert(rng.randrange(len(moves)), rng.choice(["e2e5", "zz", "a1a1", "e8g8"]))
        return ("position startpos moves " + " ".join(moves)).encode()
    return b"x" * rng.choice([10_000, 2_000_000])  # huge lines


def _bad_weights_lines(tmp: Path, tiny_weights: Path) -> list[bytes]:
    """setoption lines naming weights that cannot be loaded: missing, corrupted, a directory, no sidecar."""
    corrupted = tmp / "corrupted.safetensors"
    corrupted.write_bytes(tiny_weights.read_bytes()[:-100] + b"x" * 100)  # the sha256 in its sidecar no longer holds
    (tmp / "corrupted.json").write_text((tiny_weights.with_suffix(".json")).read_text())
    (tmp / "dir.safetensors").mkdir(exist_ok=True)
    lone = tmp / "lone.safetensors"
    lone.write_bytes(tiny_weights.read_bytes())
    paths = [
        "/nonexistent/file.safetensors",
        corrupted,
        tmp / "dir.safetensors",
        tmp,
        lone,
        tiny_weights.with_suffix(".json"),
    ]
    return [f"setoption name WeightsFile value {p}".encode() for p in paths]


ROUND_RESET = (
    "stop\nsetoption name Backend value cpu-fast\nsetoption name UCI_Chess960 value false\n"
    "setoption name Temperature value 0\nsetoption name DrawAvoidance value false\nsetoption name MultiPV value 1\n"
    "ucinewgame\nposition startpos moves e2e4\nisready\n"
)


ROUNDS = 300


def test_fuzzed_input_then_engine_still_plays(tiny_weights: Path, tmp_path: Path) -> None:
    """Rounds of garbage (bad WeightsFile values among it), each followed by a go: the engine must
    answer with a legal move, and the move the model it had plays (Temperature 0), every round."""
    from chessformer.engine.backends.torch_backend import TorchBackend
    from chessformer.engine.player import Player
    from chessformer.engine.weights import load_weights

    rng = random.Random(2024)
    bad = _bad_weights_lines(tmp_path, tiny_weights)
    after_e4 = chess.Board()
    after_e4.push_uci("e2e4")
    expected = Player(TorchBackend(load_weights(tiny_weights)[0], device="cpu")).evaluate(after_e4).moves[0].uci()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chessformer.engine"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    out: list[str] = []
    lock = threading.Condition()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            with lock:
                out.append(raw.decode("utf-8", "replace").rstrip("\n"))
                lock.notify_all()

    def wait_for(prefix: str, start: int, timeout: float = 120, nth: int = 1) -> int:
        deadline = time.monotonic() + timeout
        with lock:
            while True:
                seen = [i for i in range(start, len(out)) if out[i].startswith(prefix)]
                if len(seen) >= nth:
                    return seen[nth - 1]
                assert proc.poll() is None, f"engine exited with {proc.returncode}"
                assert lock.wait(max(0.0, deadline - time.monotonic())) or time.monotonic() < deadline, out[-5:]

    threading.Thread(target=reader, daemon=True).start()
    assert proc.stdin is not None
    proc.stdin.write(f"setoption name WeightsFile value {tiny_weights}\nisready\n".encode())
    refused = 0
    proc.stdin.flush()
    wait_for("readyok", 0)
    for r in range(ROUNDS):
        with lock:
            start = len(out)  # the previous round is answered: nothing more is on its way
        readies = 0  # garbage isready lines: each is answered, before the round's own
        for _ in range(rng.randint(5, 40)):
            line = rng.choice(bad) if rng.random() < 0.1 else _line(rng)
            words = line.decode("utf-8", "replace").strip().split() if len(line) < 1 << 20 else []
            if words and words[0].lower() == "quit":
                continue
            readies += bool(words) and words[0].lower() == "isready"
            proc.stdin.write(line + b"\n")
        proc.stdin.write(ROUND_RESET.encode())
        proc.stdin.flush()
        i = wait_for("readyok", start, nth=readies + 1)
        proc.stdin.write(b"go movetime 10\n")
        proc.stdin.flush()
        j = wait_for("bestmove", i + 1)
        with lock:
            best = out[j].split()[1]
            refused += sum("WeightsFile:" in line for line in out[start:j])
        assert best == expected, (r, out[max(start, j - 5) : j + 1])
    assert refused > 0  # the bad files were offered, refused and the model kept
    # stdout stayed UCI-only: every line starts with a UCI keyword
    with lock:
        assert all(
            line.split(" ")[0] in {"id", "option", "uciok", "readyok", "info", "bestmove"} for line in out if line
        )
    proc.stdin.write(b"quit\n")
    proc.stdin.flush()
    assert proc.wait(timeout=30) == 0
