"""``python -m chessformer.bench soak``: the engine's process over many games, watched for leaks, stalls and bad moves.

Two soaks, each reporting the engine's resident memory at the start, the middle and the end:

- ``--cycles N``: one engine process, N rounds of ``ucinewgame`` / ``position`` (a random game of
  0-120 plies) / ``go``; every bestmove must be legal and arrive within ``--stall`` seconds.
- ``--games N``: a bench match (``python -m chessformer.bench match`` options: ``--tc``, opponents,
  concurrency) while a sampler reads the resident memory of every engine process the match
  runs, every ``--sample`` seconds; afterwards every game of the PGN is replayed for legality
  and its terminations are counted (forfeits, crashes, time losses).

Memory is read from /proc (Linux); elsewhere it is reported as unavailable.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import chess
import chess.pgn

from chessformer.bench.engines import chessformer_command


@dataclass(frozen=True)
class MemoryReading:
    at: str  # what point of the soak (cycle or game count)
    rss_mb: float  # resident set size of the engine process(es), megabytes (max over processes)


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB, or None where /proc is not there."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def engine_pids(root: int, command: tuple[str, ...]) -> list[int]:
    """The descendants of process ``root`` that run ``command`` (the engine processes a match starts;
    a console script shows as its interpreter plus the script, so the command's last word is matched)."""
    parent: dict[int, int] = {}
    cmdline: dict[int, list[str]] = {}
    for p in Path("/proc").glob("[0-9]*"):
        try:
            stat = (p / "stat").read_text()
            parent[int(p.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            cmdline[int(p.name)] = (p / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, ValueError, IndexError):
            continue

    def under_root(pid: int) -> bool:
        while pid in parent and pid > 1:
            if parent[pid] == root:
                return True
            pid = parent[pid]
        return False

    last = command[-1]
    return [pid for pid, cmd in cmdline.items() if last in cmd and under_root(pid)]


def soak_cycles(
    cycles: int, stall_s: float = 10.0, seed: int = 0, weights: str | None = None, load_s: float = 120.0
) -> dict[str, object]:
    """``cycles`` rounds of ucinewgame / position / go through one engine process.

    stall_s bounds every answer but the first ``readyok``, which waits up to load_s: the model
    loads there (torch, and the native step's first build on a new machine), seen to take over
    10 s on a loaded 2-core machine."""
    proc = subprocess.Popen(
        list(chessformer_command()),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    got = threading.Condition()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with got:
                lines.append(line.strip())
                got.notify_all()

    threading.Thread(target=reader, daemon=True).start()

    def until(prefix: str, limit: float = stall_s) -> str:
        deadline = time.monotonic() + limit
        with got:
            while True:
                hit = next((x for x in lines if x.startswith(prefix)), None)
                if hit is not None:
                    lines.clear()
                    return hit
                if not got.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"no {prefix!r} within {limit} s: the engine stalled")

    def send(text: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(text + "\n")
        proc.stdin.flush()

    rng = random.Random(seed)
    send("uci")
    until("uciok")
    if weights:
        send(f"setoption name WeightsFile value {weights}")
    send("isready")
    until("readyok", load_s)
    marks = {1, cycles // 2, cycles}
    readings: list[MemoryReading] = []
    illegal, t0 = 0, time.time()
    for i in range(1, cycles + 1):
        board = chess.Board()
        for _ in range(rng.randint(0, 120)):
            legal = list(board.legal_moves)
            if not legal:
                break
            board.push(rng.choice(legal))
        if board.is_game_over():
            board.pop()
        send("ucinewgame")
        send("position startpos moves " + " ".join(m.uci() for m in board.move_stack))
        send("go movetime 10")
        best = until("bestmove").split()[1]
        illegal += chess.Move.from_uci(best) not in board.legal_moves
        if i in marks:
            readings.append(MemoryReading(f"cycle {i}", rss_mb(proc.pid) or float("nan")))
    send("quit")
    proc.wait(timeout=30)
    return {
        "cycles": cycles,
        "illegal_moves": illegal,
        "seconds": round(time.time() - t0, 1),
        "exit_code": proc.returncode,
        "memory": [asdict(r) for r in readings],
    }


def replay_games(pgn: Path) -> dict[str, object]:
    """Every game of ``pgn`` replayed for legality; terminations counted."""
    terminations: Counter[str] = Counter()
    games = illegal = 0
    with open(pgn, encoding="utf-8") as f:
        while (game := chess.pgn.read_game(f)) is not None:
            games += 1
            term = game.headers.get("Termination", "?")
            terminations[term.split(":")[0] if term.startswith("normal") else term] += 1
            if game.errors:  # a move python-chess could not read as legal SAN
                illegal += 1
                continue
            board = game.board()
            for move in game.mainline_moves():
                if move not in board.legal_moves:
                    illegal += 1
                    break
                board.push(move)
    return {"games": games, "illegal_games": illegal, "terminations": dict(terminations)}


def soak_match(match_argv: list[str], pgn: Path, sample_s: float = 20.0) -> dict[str, object]:
    """Run ``python -m chessformer.bench match`` with ``match_argv`` while sampling the engine processes' memory."""
    readings: list[tuple[float, int, float]] = []  # (seconds, games so far, max RSS of the engine processes)
    command = chessformer_command()
    cmd = [sys.executable, "-m", "chessformer.bench", "match", *match_argv, "--pgn", str(pgn), "--no-progress"]
    t0 = time.time()
    match = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while match.poll() is None:
        time.sleep(sample_s)
        sizes = [r for pid in engine_pids(match.pid, command) if (r := rss_mb(pid)) is not None]
        done = pgn.read_text(encoding="utf-8").count("[Event ") if pgn.exists() else 0
        if sizes:
            readings.append((round(time.time() - t0, 1), done, round(max(sizes), 1)))
    out, err = match.communicate()
    picks = [readings[0], readings[len(readings) // 2], readings[-1]] if readings else []
    return {
        "match_exit_code": match.returncode,
        "wall_seconds": round(time.time() - t0, 1),
        "summary": out.strip().splitlines()[-1] if out.strip() else "",
        "stderr_tail": err.strip().splitlines()[-3:],
        "memory": [{"at": f"{s} s, {g} games", "rss_mb": r} for s, g, r in picks],
        "memory_samples": len(readings),
        **replay_games(pgn),
    }


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m chessformer.bench soak", description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=0, help="ucinewgame/position/go rounds through one engine process")
    p.add_argument("--games", type=int, default=0, help="games of a bench match, per opponent")
    p.add_argument("--pgn", type=Path, default=Path("runs/soak/soak.pgn"), help="the match's PGN (--games)")
    p.add_argument("--sample", type=float, default=20.0, help="seconds between memory samples (--games)")
    p.add_argument("--stall", type=float, default=10.0, help="seconds a go may take before it is a stall (--cycles)")
    p.add_argument("--weights", help="WeightsFile for the --cycles engine (default: the bundled model)")
    a, match_argv = p.parse_known_args(argv)
    if not a.cycles and not a.games:
        p.error("give --cycles N, --games N, or both")
    report: dict[str, object] = {}
    if a.cycles:
        report["cycles"] = soak_cycles(a.cycles, a.stall, weights=a.weights)
    if a.games:
        a.pgn.parent.mkdir(parents=True, exist_ok=True)
        report["match"] = soak_match(["--games", str(a.games), *match_argv], a.pgn, a.sample)
    print(json.dumps(report, indent=1))
    return 0
