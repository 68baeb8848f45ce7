"""``python -m experiments.transcendence generate``: games between a pool of noisy experts, as PGN.

An expert is a named UCI engine configuration (Stockfish 15.1 at a Skill Level, with a
node or depth limit) that, before each of its moves, plays a uniformly random legal
move with probability ``random_move_prob``: the noise that makes experts err
independently, as the paper's theory asks. An expert with a ``habit`` errs systematically
instead (training/habits.py), or, with ``habit_prob`` below 1, that fraction of its errors
systematically and the rest uniformly. With ``clean = "greedy"`` an expert's own move is
the greedy rule of training/greedy.py instead of Stockfish's (``"greedy-pawns"``: its variant
that pushes a pawn first), and with ``habit_fallback = "clean"`` it errs only by its habit,
playing its own move where the habit has none.
Pools are TOML files::

    seed = 7
    opening_plies = 6          # random legal plies before the experts take over

    [[expert]]
    name = "sf0-d1-r20"
    skill = 0
    depth = 1
    random_move_prob = 0.2

With ``mixing = "move"`` a game is played by the pool as a committee: every move is made by
an expert drawn uniformly at random for that move, so the position carries no mark of who
moves next, and the data's policy at each position is the experts' average (the mixture
the paper's theory has the model learn). Both players are then named ``committee``.

Game i is reproducible from (seed, i): its pairing, colours, opening and every random
move come from one generator seeded by both, and Stockfish at Skill Level 20 with a
depth or node limit on one thread is deterministic. (Below Skill Level 20 Stockfish
picks its weakened moves with a clock-seeded generator of its own: such experts are not
reproducible, which is why the shipped pools weaken experts by depth and random moves.) Games are appended to the PGN as they
finish; a re-run skips the game numbers already there. Headers carry the experts'
names (White, Black and WhiteExpert, BlackExpert), so ``prepare --players`` can keep the
games of experts rated at most a cap.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chess
import chess.engine
import chess.pgn

from chessformer.engine.pgn import append_game, finished_headers
from experiments.transcendence.greedy import RULES, rule_move
from experiments.transcendence.habits import FALLBACKS, check_habit, error_move

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


@dataclass(frozen=True)
class Expert:
    """One member of the pool."""

    name: str  # unique; written as the player's name in the PGN
    skill: int = 20  # Stockfish Skill Level (0..20)
    depth: int | None = None  # search depth per move (plies)
    nodes: int | None = None  # node limit per move (count)
    movetime: float | None = None  # seconds per move, if neither depth nor nodes
    random_move_prob: float = 0.0  # probability of an error instead of the engine's move (0..1)
    habit: str = ""  # the error: "" a uniformly random legal move; a piece name its habit (training/habits.py)
    habit_prob: float = 1.0  # of its errors, the fraction that are its habit's move; the rest uniform (0..1)
    command: str = ""  # engine binary; empty: Debian's Stockfish
    # its own move: "stockfish" (the engine at its limits) or a rule of training/greedy.py (RULES)
    clean: str = "stockfish"
    habit_fallback: str = "random"  # an error without a habit move: "random" (uniform) or "clean" (its own move)

    def limit(self) -> chess.engine.Limit:
        if self.depth is None and self.nodes is None and self.movetime is None:
            return chess.engine.Limit(depth=1)
        return chess.engine.Limit(depth=self.depth, nodes=self.nodes, time=self.movetime)

    def describe(self) -> str:
        parts = [f"{self.clean} rule"] if self.clean in RULES else [f"skill {self.skill}"]
        parts += [
            f"{k} {v}"
            for k, v in (("depth", self.depth), ("nodes", self.nodes), ("movetime", self.movetime))
            if v is not None
        ]
        parts.append(f"random {self.random_move_prob:g}")
        if self.habit:
            parts.append(f"habit {self.habit}" + (f" {self.habit_prob:g}" if self.habit_prob < 1 else ""))
            if self.habit_fallback != "random":
                parts.append(f"else {self.habit_fallback}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Pool:
    experts: tuple[Expert, ...]
    seed: int = 1  # base seed of every game
    opening_plies: int = 6  # random plies from the start position before the experts play (plies)
    max_plies: int = 400  # games still running are adjudicated drawn (plies)
    mixing: str = "game"  # "game": two experts play a game; "move": each move by a random expert


MIXINGS = ("game", "move")
CLEAN_MOVES = ("stockfish", *RULES)  # Expert.clean
COMMITTEE = "committee"  # the player name of games played with mixing = "move"


def load_pool(path: Path) -> Pool:
    with open(path, "rb") as f:
        raw: dict[str, Any] = tomllib.load(f)
    experts = tuple(Expert(**e) for e in raw.pop("expert", []))
    if len(experts) < 2:
        raise ValueError(f"{path}: a pool needs at least two [[expert]] entries")
    names = [e.name for e in experts]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: expert names must be unique")
    for e in experts:
        if not 0 <= e.random_move_prob <= 1:
            raise ValueError(f"{path}: {e.name}: random_move_prob must be within 0..1")
        if not 0 <= e.habit_prob <= 1:
            raise ValueError(f"{path}: {e.name}: habit_prob must be within 0..1")
        if e.clean not in CLEAN_MOVES:
            raise ValueError(f"{path}: {e.name}: clean must be one of {CLEAN_MOVES}, got {e.clean!r}")
        if e.habit_fallback not in FALLBACKS:
            raise ValueError(f"{path}: {e.name}: habit_fallback must be one of {FALLBACKS}, got {e.habit_fallback!r}")
        try:
            check_habit(e.habit)
        except ValueError as err:
            raise ValueError(f"{path}: {e.name}: {err}") from None
    pool = Pool(experts=experts, **raw)
    if pool.mixing not in MIXINGS:
        raise ValueError(f"{path}: mixing must be one of {MIXINGS}, got {pool.mixing!r}")
    return pool


def pairing(pool: Pool, number: int) -> tuple[Expert, Expert, random.Random]:
    """The (white, black) experts and the generator of game ``number``: round robin, colours alternating."""
    rng = random.Random(pool.seed * 1_000_003 + number)
    n = len(pool.experts)
    pairs = [(a, b) for a in range(n) for b in range(n) if a != b]
    a, b = pairs[number % len(pairs)]
    return pool.experts[a], pool.experts[b], rng


def move_without_engine(expert: Expert, board: chess.Board, rng: random.Random) -> chess.Move | None:
    """The expert's move where it needs no engine, or None where its engine must move.

    With probability ``random_move_prob`` it errs (``experiments.transcendence.habits.error_move``); a greedy
    expert's own move is the greedy rule's. One definition for ``python -m experiments.transcendence generate`` and the UCI
    noisy expert (bench/noisy_engine.py), so an expert plays alike in its training games and in
    the games that rate it. ``board`` must have a legal move.
    """
    move = None
    if rng.random() < expert.random_move_prob:
        move = error_move(board, expert.habit, rng, expert.habit_prob, expert.habit_fallback)
    if move is None and expert.clean in RULES:
        move = rule_move(expert.clean, board)
    return move


def _stockfish() -> str:
    for cand in (shutil.which("stockfish"), "/usr/games/stockfish"):
        if cand and Path(cand).exists():
            return cand
    raise FileNotFoundError("Stockfish not found: apt-get install stockfish")


def play_expert_game(pool: Pool, number: int, engines: dict[str, chess.engine.SimpleEngine]) -> chess.pgn.Game:
    white, black, rng = pairing(pool, number)
    board = chess.Board()
    for _ in range(pool.opening_plies):
        legal = list(board.legal_moves)
        if not legal:
            break
        board.push(rng.choice(legal))
    opening_plies = board.ply()
    while board.outcome(claim_draw=True) is None and board.ply() < pool.max_plies:
        mover = white if board.turn == chess.WHITE else black
        expert = rng.choice(pool.experts) if pool.mixing == "move" else mover  # "move": a committee
        move = move_without_engine(expert, board, rng)
        if move is None:
            played = engines[expert.name].play(board, expert.limit(), game=number).move
            if played is None or played not in board.legal_moves:
                raise RuntimeError(f"{expert.name} returned an illegal move {played} in {board.fen()}")
            move = played
        board.push(move)
    outcome = board.outcome(claim_draw=True)
    game = chess.pgn.Game.from_board(board)
    h = game.headers
    h["Event"] = "chessformer expert pool"
    h["Site"] = f"generate:{pool.seed}:{number}"
    h["Round"] = str(number + 1)
    if pool.mixing == "move":
        h["White"] = h["Black"] = COMMITTEE
        members = "each move by one of (uniformly): " + ", ".join(e.name for e in pool.experts)
        h["WhiteExpert"] = h["BlackExpert"] = members
    else:
        h["White"], h["Black"] = white.name, black.name
        h["WhiteExpert"], h["BlackExpert"] = white.describe(), black.describe()
    h["Result"] = outcome.result() if outcome else "1/2-1/2"
    h["Termination"] = outcome.termination.name.lower() if outcome else f"adjudication: {pool.max_plies} plies"
    h["OpeningPlies"] = str(opening_plies)
    h["GameNumber"] = str(number)
    h["PoolSeed"] = str(pool.seed)
    return game


def done_numbers(pgn: Path, seed: int) -> set[int]:
    """Game numbers of this pool seed already finished in ``pgn`` (``engine.pgn.finished_headers``:
    a game is done exactly when the ratings would count it)."""
    if not pgn.exists():
        return set()
    return {
        int(h["GameNumber"])
        for h in finished_headers([pgn])
        if h.get("PoolSeed") == str(seed) and h.get("GameNumber", "").isdigit()
    }


def _engine_free_game(pool: Pool, number: int) -> str:
    """A game of a pool that needs no engine (every expert greedy), as PGN text: a worker process's job."""
    return str(play_expert_game(pool, number, {}))


def generate(pool: Pool, games: int, pgn: Path, concurrency: int = 2, progress: bool = True) -> int:
    """Play games 0..games-1 that are not yet in ``pgn``; returns how many were played."""
    from tqdm import tqdm

    pgn.parent.mkdir(parents=True, exist_ok=True)
    done = done_numbers(pgn, pool.seed)
    todo = [i for i in range(games) if i not in done]
    bar = tqdm(total=len(todo), desc="generate", unit="game", disable=not progress)
    if todo and concurrency > 1 and all(e.clean in RULES for e in pool.experts):
        # every move is computed here in Python: threads would share one core (the GIL), so use
        # processes; games are appended in order, as each finishes, so a kill loses only those in flight
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(min(concurrency, len(todo))) as workers:
            for text in workers.imap(functools.partial(_engine_free_game, pool), todo, chunksize=4):
                append_game(pgn, text)
                bar.update(1)
        bar.close()
        return len(todo)
    lock = threading.Lock()
    errors: list[BaseException] = []
    next_index = iter(todo)

    def worker() -> None:
        engines: dict[str, chess.engine.SimpleEngine] = {}
        try:
            for e in pool.experts:
                if e.clean in RULES:  # a rule of the board: no engine
                    continue
                eng = chess.engine.SimpleEngine.popen_uci(e.command or _stockfish())
                eng.configure({"Skill Level": e.skill, "Threads": 1, "Hash": 16})
                engines[e.name] = eng
            while True:
                with lock:
                    number = next(next_index, None)
                if number is None:
                    return
                game = play_expert_game(pool, number, engines)
                with lock:
                    append_game(pgn, game)
                    bar.update(1)
        except BaseException as e:  # noqa: BLE001 - re-raised after the other workers stop
            errors.append(e)
        finally:
            for eng in engines.values():
                eng.quit()

    threads = [threading.Thread(target=worker) for _ in range(max(1, min(concurrency, len(todo))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bar.close()
    if errors:
        raise errors[0]
    return len(todo)


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m experiments.transcendence generate", description="Games between noisy expert engines."
    )
    p.add_argument("--pool", type=Path, required=True, help="TOML file describing the expert pool")
    p.add_argument("--games", type=int, required=True, help="total games (game numbers 0..N-1)")
    p.add_argument("--out", type=Path, required=True, help="PGN file (appended; finished games are skipped)")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        pool = load_pool(a.pool)
        played = generate(pool, a.games, a.out, a.concurrency, progress=not a.no_progress)
    except (ValueError, FileNotFoundError, TypeError) as e:
        print(f"generate: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"played": played, "pgn": str(a.out)}))
    return 0
