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


def test_fuzzed_input_then_engine_still_plays(tiny_weights: Path) -> None:
    rng = random.Random(2024)
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    out: list[str] = []
    lock = threading.Condition()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            with lock:
                out.append(raw.decode("utf-8", "replace").rstrip("\n"))
                lock.notify_all()

    threading.Thread(target=reader, daemon=True).start()
    assert proc.stdin is not None
    proc.stdin.write(f"setoption name WeightsFile value {tiny_weights}\nisready\n".encode())
    n = 3000
    for _ in range(n):
        line = _line(rng)
        if line.strip().lower().startswith(b"quit"):
            continue
        proc.stdin.write(line + b"\n")
    proc.stdin.write(
        f"stop\nsetoption name WeightsFile value {tiny_weights}\nsetoption name UCI_Chess960 value false\n".encode()
    )
    proc.stdin.write(b"isready\nucinewgame\nposition startpos moves e2e4\ngo movetime 10\n")
    proc.stdin.flush()

    def wait_for(prefix: str, start: int, timeout: float = 120) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        with lock:
            while True:
                for i in range(start, len(out)):
                    if out[i].startswith(prefix):
                        return i, out[i]
                assert proc.poll() is None, f"engine exited with {proc.returncode}"
                assert lock.wait(max(0.0, deadline - time.monotonic())) or time.monotonic() < deadline, out[-5:]

    # the last isready's readyok, then the last go's bestmove
    with lock:
        start = len(out)
    time.sleep(0.5)
    proc.stdin.write(b"isready\n")
    proc.stdin.flush()
    i, _ = wait_for("readyok", start)
    proc.stdin.write(b"position startpos moves e2e4\ngo movetime 10\n")
    proc.stdin.flush()
    _, best = wait_for("bestmove", i + 1)
    b = chess.Board()
    b.push_uci("e2e4")
    assert chess.Move.from_uci(best.split()[1]) in b.legal_moves
    # stdout stayed UCI-only: every line starts with a UCI keyword
    with lock:
        assert all(
            line.split(" ")[0] in {"id", "option", "uciok", "readyok", "info", "bestmove"} for line in out if line
        )
    proc.stdin.write(b"quit\n")
    proc.stdin.flush()
    assert proc.wait(timeout=30) == 0
