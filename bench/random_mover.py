"""``python -m chessformer.bench.random_mover``: a UCI engine that plays a uniformly random legal move.

The floor of every rating table. Option Seed (0: fresh randomness) makes it reproducible.

With ``--random P`` below 1 it is a rung of a ladder between that floor and Stockfish: each
move is a uniformly random legal one with probability P, otherwise Stockfish's (at the Skill
Level bench sets through setoption, which is passed on). Such opponents tie the weakest
settings of a strength calibration (bench/calibrate.py) to the Stockfish anchors, through games
between neighbouring rungs. The Stockfish half is answered synchronously (``go`` with a limit;
``go infinite`` and ``stop`` are not supported): it is an opponent for bench, not a GUI engine.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys

import chess

SEED_OPTION = "option name Seed type spin default 0 min 0 max 2147483647"


class StockfishPipe:
    """A Stockfish process whose replies are relayed to our stdout up to an expected line."""

    def __init__(self, path: str, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def send(self, line: str) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def relay_until(self, prefix: str, before_last: str = "") -> None:
        """Copy Stockfish's lines to stdout through the first that starts with ``prefix``."""
        assert self.proc.stdout
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("Stockfish "):  # its banner, before any UCI reply
                continue
            if line.startswith("id name"):
                line = f"id name {self.name}"
            if line.startswith(prefix):
                if before_last:
                    print(before_last)
                print(line, flush=True)
                return
            print(line)
        raise SystemExit("stockfish exited")


def parse_position(parts: list[str]) -> chess.Board:
    """The board of a ``position`` command; ValueError (or IndexError) if it is malformed."""
    mi = parts.index("moves") if "moves" in parts else len(parts)
    board = chess.Board() if parts[1] == "startpos" else chess.Board(" ".join(parts[2:mi]))
    for m in parts[mi + 1 :]:
        board.push_uci(m)
    return board


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chessformer.bench.random_mover")
    p.add_argument("--random", type=float, default=1.0, help="probability of a random move (1: never Stockfish)")
    p.add_argument("--stockfish", default=None, help="Stockfish binary (default: found on PATH)")
    a = p.parse_args(argv)
    if not 0 <= a.random <= 1:
        p.error(f"--random must be within 0..1, got {a.random}")
    sf: StockfishPipe | None = None
    if a.random < 1:
        from chessformer.bench.engines import stockfish_path

        sf = StockfishPipe(a.stockfish or stockfish_path(), f"Stockfish random {a.random:g}")
    rng = random.Random()
    board = chess.Board()
    for raw in sys.stdin:
        parts = raw.split()
        if not parts:
            continue
        cmd = parts[0]
        if cmd == "uci" and sf:
            sf.send("uci")
            sf.relay_until("uciok", before_last=SEED_OPTION)
        elif cmd == "uci":
            print(f"id name RandomMover\nid author chessformer\n{SEED_OPTION}\nuciok")
        elif cmd == "isready" and sf:
            sf.send("isready")
            sf.relay_until("readyok")
        elif cmd == "isready":
            print("readyok")
        elif cmd == "setoption" and len(parts) >= 5 and parts[2].lower() == "seed":
            try:
                seed = int(parts[4])
            except ValueError:
                seed = 0
            rng = random.Random(seed if seed else None)
        elif cmd == "position":
            try:
                board = parse_position(parts)
            except (ValueError, IndexError) as e:
                print(f"info string bad position: {e}")
            if sf:
                sf.send(raw.strip())
        elif cmd == "go":
            legal = list(board.legal_moves)
            # the pure random mover draws only its move, so its games replay as they always have
            if legal and (sf is None or rng.random() < a.random):
                print(f"bestmove {rng.choice(legal).uci()}")
            elif sf:
                sf.send(raw.strip())
                sf.relay_until("bestmove")
            else:
                print("bestmove 0000")
        elif cmd == "quit":
            break
        elif sf:  # setoption (Skill Level, Threads, Hash), ucinewgame: Stockfish's business
            sf.send(raw.strip())
        sys.stdout.flush()
    if sf:
        sf.send("quit")
        sf.proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
