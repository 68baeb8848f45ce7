"""``python -m experiments.transcendence.noisy_engine``: a noisy expert as a UCI engine, for rating expert pools.

It forwards every command to Stockfish, except that before answering a ``go`` it errs
with probability ``--random``, as the experts of ``python -m experiments.transcendence generate`` do: a uniformly
random legal move, or with ``--habit`` its habit's move (training/habits.py ``error_move``).
With ``--clean greedy`` every move is its own, by the greedy rule (training/greedy.py) where
it does not err, and no Stockfish is started: it answers the protocol itself.
The random draw depends only on (Seed option, position), so a game against the same
replies is replayed exactly; bench sets Seed per game.

    python -m experiments.transcendence.noisy_engine --depth 1 --random 0.2
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import random
import subprocess
import sys
import threading

import chess

from chessformer.bench.engines import SPEC_KINDS, EngineSpec, OptionMap, stockfish_path
from chessformer.bench.random_mover import parse_position
from experiments.transcendence.generate import CLEAN_MOVES, Expert, move_without_engine
from experiments.transcendence.greedy import RULES
from experiments.transcendence.habits import FALLBACKS, check_habit


def noisy_spec(kv: dict[str, str]) -> EngineSpec:
    """``noisy:depth=1,random=0.2,name=X`` (bench's engine specs): a noisy expert, Stockfish at Skill
    Level ``skill`` (default 20) that plays a random legal move with probability ``random`` (with
    ``habit=PIECE``, its habit's move instead: habits.py; with ``habit_prob=P`` as well, the habit's
    move for a fraction P of its errors and a uniformly random one otherwise; ``clean=greedy``: its
    own move is the greedy rule of greedy.py, not Stockfish's; ``fallback=clean``: where the habit has
    no move it plays its own move, not a random one)."""
    nodes = int(kv.pop("nodes")) if "nodes" in kv else None
    depth = int(kv.pop("depth")) if "depth" in kv else None
    movetime = float(kv.pop("movetime")) if "movetime" in kv else None
    options: OptionMap = {}
    skill, random_p = kv.pop("skill", "20"), kv.pop("random", "0")
    name = kv.pop("name", f"Noisy s{skill} d{depth} n{nodes} r{random_p}")
    command: tuple[str, ...] = (
        sys.executable,
        "-m",
        "experiments.transcendence.noisy_engine",
        "--skill",
        skill,
        "--random",
        random_p,
    )
    for key, flag in (
        ("habit", "--habit"),
        ("habit_prob", "--habit-prob"),
        ("fallback", "--habit-fallback"),
        ("clean", "--clean"),
    ):
        if key in kv:
            command += (flag, kv.pop(key))
    if depth is not None:
        command += ("--depth", str(depth))
    if nodes is not None:
        command += ("--nodes", str(nodes))
    if kv:
        raise ValueError(f"unknown settings for noisy: {sorted(kv)}")
    # the proxy applies its own limits; the match's per-move time is only a fallback
    return EngineSpec(name=name, command=command, options=options, movetime=movetime)


SPEC_KINDS["noisy"] = noisy_spec


def _draw(seed: int, board: chess.Board) -> random.Random:
    key = f"{seed}:{board.fen()}:{len(board.move_stack)}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.transcendence.noisy_engine")
    p.add_argument("--skill", type=int, default=20)
    p.add_argument("--depth", type=int, default=None)
    p.add_argument("--nodes", type=int, default=None)
    p.add_argument(
        "--random",
        type=float,
        default=0.0,
        help="probability of an error: a uniformly random legal move, or the habit's move",
    )
    p.add_argument("--habit", default="", help="err by this habit (training/habits.py) instead of uniformly")
    p.add_argument(
        "--habit-prob", type=float, default=1.0, help="of the errors, the fraction that are the habit's move (0..1)"
    )
    p.add_argument(
        "--habit-fallback",
        choices=FALLBACKS,
        default="random",
        help="an error where the habit has no move: uniform, or the expert's own move",
    )
    p.add_argument(
        "--clean",
        choices=CLEAN_MOVES,
        default="stockfish",
        help="its own move: Stockfish's at the limits, or a rule of the board (training/greedy.py)",
    )
    p.add_argument("--stockfish", default=None)
    a = p.parse_args(argv)
    try:
        check_habit(a.habit)
    except ValueError as e:
        p.error(str(e))
    if not 0 <= a.habit_prob <= 1:
        p.error(f"--habit-prob must be within 0..1, got {a.habit_prob}")
    expert = Expert(  # how it moves where Stockfish is not asked, as in generate.py
        "noisy",
        skill=a.skill,
        depth=a.depth,
        nodes=a.nodes,
        random_move_prob=a.random,
        habit=a.habit,
        habit_prob=a.habit_prob,
        clean=a.clean,
        habit_fallback=a.habit_fallback,
    )
    name = f"NoisyExpert({expert.describe()})"  # the pool's own description of the expert
    seed_option = "option name Seed type spin default 0 min 0 max 2147483647"
    out_lock = threading.Lock()
    seed = 0
    board = chess.Board()

    def send(line: str) -> None:
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    sf: subprocess.Popen[str] | None = None
    if a.clean in RULES:  # every move is its own, so no Stockfish: the protocol is answered here

        def to_sf(line: str) -> None:
            command = line.split()[0]
            if command == "uci":
                for reply in (f"id name {name}", "id author chessformer", seed_option, "uciok"):
                    send(reply)
            elif command == "isready":
                send("readyok")
            elif command == "go":  # reached only where the side to move has no legal move
                send("bestmove (none)")

    else:
        sf = subprocess.Popen(
            [a.stockfish or stockfish_path()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

        def pump() -> None:  # Stockfish's replies, renamed where it names itself
            assert sf and sf.stdout
            for line in sf.stdout:
                line = line.rstrip("\n")
                if line.startswith("id name"):
                    line = f"id name {name}"
                elif line == "uciok":
                    send(seed_option)
                send(line)

        threading.Thread(target=pump, daemon=True).start()

        def to_sf(line: str) -> None:
            assert sf and sf.stdin
            sf.stdin.write(line + "\n")
            sf.stdin.flush()

    to_sf(f"setoption name Skill Level value {a.skill}")
    for raw in sys.stdin:
        line = raw.strip()
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "setoption" and len(parts) >= 5 and parts[2].lower() == "seed":
            with contextlib.suppress(ValueError):
                seed = int(parts[4])
            continue
        if parts[0] == "position":
            with contextlib.suppress(ValueError, IndexError):
                board = parse_position(parts)
        if parts[0] == "go":
            legal = list(board.legal_moves)
            rng = _draw(seed, board)
            move = move_without_engine(expert, board, rng) if legal else None
            if move is not None:
                send(f"bestmove {move.uci()}")
                continue
            limits = " ".join(f"{k} {v}" for k, v in (("depth", a.depth), ("nodes", a.nodes)) if v is not None)
            line = f"go {limits}" if limits else line
        to_sf(line)
        if parts[0] == "quit":
            break
    if sf is not None:
        sf.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
