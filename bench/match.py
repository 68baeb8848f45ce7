"""``python -m chessformer.bench match``: an engine against UCI opponents, games to PGN, resumable.

Each opponent plays ``games`` games against the engine: opening ``i // 2`` of the
list (cycled) with the engine as white for even ``i`` and black for odd ``i``, so
every opening is played with both colours. Each game is appended to the PGN as soon
as it ends, tagged with the match id (a hash of everything that defines the match) and
its number; re-running the same command skips the games already in the file.

Forfeits are never hidden: an illegal move, a crash or a lost connection, and a
flag fall lose the game for that side, and the PGN's Termination says which.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import hashlib
import io
import json
import logging
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import chess
import chess.engine
import chess.pgn

from chessformer.bench.engines import EngineSpec, stockfish_path
from chessformer.bench.rate import finished_headers
from chessformer.engine.pgn import append_game


@dataclass(frozen=True)
class Opening:
    """A start position: a FEN and moves played from it before the engines take over."""

    name: str
    fen: str = chess.STARTING_FEN
    moves: tuple[str, ...] = ()  # UCI moves

    def board(self) -> chess.Board:
        b = chess.Board(self.fen)
        for m in self.moves:
            b.push_uci(m)
        return b


def load_openings(path: Path | None) -> list[Opening]:
    """Openings from a PGN (each game's moves, from its FEN if any) or an EPD file; None: the start position."""
    if path is None:
        return [Opening("startpos")]
    text = path.read_text(encoding="utf-8", errors="replace")
    out: list[Opening] = []
    if path.suffix.lower() == ".epd":
        for n, line in enumerate(text.splitlines()):
            if not line.strip() or line.startswith("#"):
                continue
            board, ops = chess.Board.from_epd(line)
            out.append(Opening(str(ops.get("id", f"epd{n + 1}")), board.fen()))
    else:
        stream = io.StringIO(text)
        while (game := chess.pgn.read_game(stream)) is not None:
            if game.errors:
                raise ValueError(f"{path}: bad opening game {len(out) + 1}: {game.errors[0]}")
            board = game.board()
            moves = tuple(m.uci() for m in game.mainline_moves())
            name = game.headers.get("Opening", f"line{len(out) + 1}")
            out.append(Opening(name, board.fen(), moves))
    if not out:
        raise ValueError(f"{path}: no openings")
    return out


@dataclass
class MatchConfig:
    """What defines a match (its hash names the match in the PGN)."""

    engine: EngineSpec
    opponents: list[EngineSpec]
    games: int = 2  # games per opponent (count)
    openings: list[Opening] = field(default_factory=lambda: [Opening("startpos")])
    movetime: float | None = 0.1  # per-move time (seconds); None when a clock is used
    clock: tuple[float, float] | None = None  # (base seconds, increment seconds) per side
    max_moves: int | None = None  # full moves before adjudicating a draw (the paper: 89)
    seed: int = 1  # the engine's Seed for game i is seed + i (Seed option, if it has one)
    adjudicate_cp: int | None = None  # Stockfish-score adjudication: a side ahead by this many centipawns...
    adjudicate_plies: int = 6  # ...for this many consecutive plies wins (plies)
    adjudicate_nodes: int = 20_000  # Stockfish's node budget per adjudication look (count)

    def match_id(self, opponent: EngineSpec) -> str:
        weights = [w for w in (weights_identity(self.engine), weights_identity(opponent)) if w]
        key = json.dumps(
            [
                self.engine.describe(),
                opponent.describe(),
                self.movetime,
                self.clock,
                self.max_moves,
                self.seed,
                [(o.fen, o.moves) for o in self.openings],
            ]
            # only when on, so that ids of earlier matches stay valid
            + (
                [self.adjudicate_cp, self.adjudicate_plies, self.adjudicate_nodes]
                if self.adjudicate_cp is not None
                else []
            )
            + weights,  # a new model at the same path is a new match, not a resumed one
            sort_keys=True,
        )
        return hashlib.sha256(key.encode()).hexdigest()[:12]


def weights_identity(spec: EngineSpec) -> str | None:
    """The sha256 of a ChessFormer engine's weights (from their JSON sidecar; a paper .pt file is
    hashed), or None for other engines and for weights that cannot be read (the engine says why)."""
    from chessformer.bench.engines import chessformer_command
    from chessformer.engine.weights import BUNDLED, WeightsError, resolve_weights, sidecar_path

    ours = chessformer_command()
    if spec.command[: len(ours)] != ours:  # also chessformer --weights FILE
        return None
    try:
        path = resolve_weights(str(spec.options.get("WeightsFile", BUNDLED)))
        if path.suffix == ".safetensors":
            return str(json.loads(sidecar_path(path).read_text(encoding="utf-8"))["sha256"])
        st = path.stat()  # a paper .pt is hashed once per version of the file, not once per game's headers
        return _hashed_file(str(path), st.st_size, st.st_mtime_ns)
    except (WeightsError, OSError, ValueError, KeyError, TypeError):
        return None


@functools.lru_cache(maxsize=16)
def _hashed_file(path: str, size: int, mtime_ns: int) -> str:
    from chessformer.engine.weights import file_sha256

    return file_sha256(Path(path))


@dataclass(frozen=True)
class Job:
    opponent: int  # index into MatchConfig.opponents
    number: int  # game number within this opponent's games (0-based)


@dataclass
class GameRecord:
    result: str  # 1-0, 0-1, 1/2-1/2
    termination: str  # normal, adjudication, forfeit: ...
    game: chess.pgn.Game


def opponent_seed(seed: int) -> int:
    """The opponent's Seed in the game whose engine has ``seed``: different per game too.

    An opponent whose random moves depend on (Seed, position) would, with one Seed for every game,
    replay the same game against a deterministic engine (temperature ~0) every time.
    """
    return (seed + 1_000_003) % 2_147_483_648


class EngineProcess:
    """A running UCI engine, restarted after a crash."""

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.proc: chess.engine.SimpleEngine | None = None

    def get(self) -> chess.engine.SimpleEngine:
        if self.proc is None:
            self.proc = chess.engine.SimpleEngine.popen_uci(list(self.spec.command), timeout=120)
            if self.spec.options:
                self.proc.configure(dict(self.spec.options))
        return self.proc

    def discard(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(Exception):  # it is already dead
                self.proc.close()
        self.proc = None

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.quit()
            except Exception:  # noqa: BLE001
                self.discard()
        self.proc = None


def _limit(spec: EngineSpec, cfg: MatchConfig, clocks: dict[bool, float], board: chess.Board) -> chess.engine.Limit:
    if spec.nodes is not None or spec.depth is not None:
        return chess.engine.Limit(nodes=spec.nodes, depth=spec.depth, time=spec.movetime)
    if spec.movetime is not None:
        return chess.engine.Limit(time=spec.movetime)
    if cfg.clock is not None:
        inc = cfg.clock[1]
        return chess.engine.Limit(
            white_clock=clocks[chess.WHITE], black_clock=clocks[chess.BLACK], white_inc=inc, black_inc=inc
        )
    return chess.engine.Limit(time=cfg.movetime)


def play_game(
    white: EngineProcess,
    black: EngineProcess,
    opening: Opening,
    cfg: MatchConfig,
    seeds: dict[bool, int | None],
    adjudicator: EngineProcess | None = None,
) -> GameRecord:
    """Play one game; forfeits end it with a loss for the offending side.

    With ``cfg.adjudicate_cp`` set, ``adjudicator`` (a Stockfish) scores every position;
    a side ahead by that much for ``adjudicate_plies`` consecutive plies wins.
    """
    board = opening.board()
    streak = {chess.WHITE: 0, chess.BLACK: 0}
    start = board.copy()
    engines = {chess.WHITE: white, chess.BLACK: black}
    clocks = {chess.WHITE: cfg.clock[0], chess.BLACK: cfg.clock[0]} if cfg.clock else {}
    for color, eng in engines.items():
        try:
            proc = eng.get()
            seed = seeds[color]
            if seed is not None and "Seed" in proc.options:
                proc.configure({"Seed": seed})
            # isready before the first go, as cutechess-cli and fastchess do: the engine's load (the
            # model, seconds when cold) happens here, on no clock, not inside the first move's time
            proc.ping()
        except Exception as e:  # noqa: BLE001 - an engine that cannot start forfeits
            eng.discard()
            return finish_game(
                start,
                board,
                "0-1" if color else "1-0",
                f"forfeit: {eng.spec.name} failed to start ({type(e).__name__})",
            )
    result, termination = "*", "normal"
    while True:
        outcome = board.outcome(claim_draw=True)
        if outcome is not None:
            result = outcome.result()
            termination = f"normal: {outcome.termination.name.lower()}"
            break
        if cfg.max_moves is not None and board.fullmove_number > cfg.max_moves:
            result, termination = "1/2-1/2", f"adjudication: {cfg.max_moves} moves"
            break
        if adjudicator is not None and cfg.adjudicate_cp is not None and board.move_stack:
            info = adjudicator.get().analyse(board, chess.engine.Limit(nodes=cfg.adjudicate_nodes))
            cp = info["score"].white().score(mate_score=100_000)
            for color, ahead in ((chess.WHITE, cp >= cfg.adjudicate_cp), (chess.BLACK, cp <= -cfg.adjudicate_cp)):
                streak[color] = streak[color] + 1 if ahead else 0
            winner = next((c for c, n in streak.items() if n >= cfg.adjudicate_plies), None)
            if winner is not None:
                result = "1-0" if winner == chess.WHITE else "0-1"
                termination = f"adjudication: stockfish score {cp:+d} cp for {cfg.adjudicate_plies} plies"
                break
        side = board.turn
        eng = engines[side]
        loser = "0-1" if side == chess.WHITE else "1-0"
        limit = _limit(eng.spec, cfg, clocks, board)
        budget = (limit.time or 0) * 10 + (clocks.get(side, 0) * 1.5) + 30
        t0 = time.perf_counter()
        try:
            play = eng.get().play(board, limit, game=id(start), info=chess.engine.INFO_NONE)
        except chess.engine.EngineTerminatedError:
            eng.discard()
            result, termination = loser, f"forfeit: {eng.spec.name} crashed"
            break
        except chess.engine.EngineError as e:
            eng.discard()
            result, termination = loser, f"forfeit: {eng.spec.name} protocol error or illegal move ({e})"
            break
        except TimeoutError:
            eng.discard()
            result, termination = loser, f"forfeit: {eng.spec.name} did not answer within {budget:.0f}s"
            break
        elapsed = time.perf_counter() - t0
        move = play.move
        if move is None or move not in board.legal_moves:
            result, termination = loser, f"forfeit: {eng.spec.name} illegal move {move}"
            break
        if cfg.clock is not None and eng.spec.movetime is None and eng.spec.nodes is None and eng.spec.depth is None:
            clocks[side] -= elapsed
            if clocks[side] < -0.05:  # 50 ms tolerance for process scheduling
                result, termination = loser, f"forfeit: {eng.spec.name} lost on time"
                break
            clocks[side] += cfg.clock[1]
        board.push(move)
    return finish_game(start, board, result, termination)


def finish_game(start: chess.Board, board: chess.Board, result: str, termination: str) -> GameRecord:
    game = chess.pgn.Game()
    if start.fen() != chess.STARTING_FEN:
        game.setup(start)
    node: chess.pgn.GameNode = game
    for m in board.move_stack[len(start.move_stack) :]:
        node = node.add_variation(m)
    game.headers["Result"] = result
    return GameRecord(result, termination, game)


def finished_games(pgn: Path) -> set[tuple[str, int]]:
    """(match id, game number) of the finished games already in a PGN file.

    Finished as the ratings count them (``bench.rate.finished_headers``): a game whose Result is
    not 1-0, 0-1 or 1/2-1/2 is played again rather than skipped and never rated."""
    done: set[tuple[str, int]] = set()
    if not pgn.exists():
        return done
    for h in finished_headers([pgn]):
        if "MatchId" in h:
            try:
                done.add((h["MatchId"], int(h.get("GameNumber", "-1"))))
            except ValueError:
                continue
    return done


def missing_jobs(cfg: MatchConfig, done: set[tuple[str, int]]) -> Iterator[Job]:
    for oi, opp in enumerate(cfg.opponents):
        mid = cfg.match_id(opp)
        for n in range(cfg.games):
            if (mid, n) not in done:
                yield Job(oi, n)


def run_match(cfg: MatchConfig, pgn: Path, concurrency: int = 1, progress: bool = True) -> dict[str, dict[str, float]]:
    """Play the missing games of the match, appending them to ``pgn``; returns the summary of the whole file.

    The engines' stderr goes to ``engine_log_path(pgn)``."""

    pgn.parent.mkdir(parents=True, exist_ok=True)
    with engine_stderr_to(engine_log_path(pgn)):
        return _run_match(cfg, pgn, concurrency, progress)


def engine_log_path(pgn: Path) -> Path:
    """Where a match's engines' stderr goes: beside its PGN."""
    return pgn.with_name(pgn.name + ".engines.log")


@contextlib.contextmanager
def engine_stderr_to(path: Path) -> Iterator[None]:
    """Send python-chess's engine log (every engine's stderr lines) to ``path``, not the terminal,
    where they broke the progress bar; only bench's own lines reach the terminal."""
    logger = logging.getLogger("chess.engine")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    old = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.propagate, logger.level = old[0], old[1]


def _run_match(cfg: MatchConfig, pgn: Path, concurrency: int, progress: bool) -> dict[str, dict[str, float]]:
    from tqdm import tqdm

    done = finished_games(pgn)
    jobs: queue.Queue[Job] = queue.Queue()
    for j in missing_jobs(cfg, done):
        jobs.put(j)
    total = jobs.qsize()
    lock = threading.Lock()
    bar = tqdm(total=total, desc="match", unit="game", disable=not progress)
    errors: list[BaseException] = []

    def worker() -> None:
        mine = EngineProcess(cfg.engine)
        opps: dict[int, EngineProcess] = {}
        judge = (
            EngineProcess(EngineSpec("adjudicator", (stockfish_path(),), {"Threads": 1, "Hash": 16}))
            if cfg.adjudicate_cp is not None
            else None
        )
        try:
            while True:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    return
                opp_spec = cfg.opponents[job.opponent]
                opp = opps.setdefault(job.opponent, EngineProcess(opp_spec))
                opening = cfg.openings[(job.number // 2) % len(cfg.openings)]
                engine_white = job.number % 2 == 0
                white, black = (mine, opp) if engine_white else (opp, mine)
                seed = cfg.seed + job.number
                seeds: dict[bool, int | None] = {engine_white: seed, not engine_white: opponent_seed(seed)}
                rec = play_game(white, black, opening, cfg, seeds, judge)
                write_headers(rec, cfg, opp_spec, job, opening, engine_white, seed)
                with lock:
                    append_game(pgn, rec.game)
                    bar.update(1)
        except BaseException as e:  # noqa: BLE001 - reported after the other workers finish
            errors.append(e)
        finally:
            mine.close()
            if judge is not None:
                judge.close()
            for opp_engine in opps.values():
                opp_engine.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(concurrency, total)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bar.close()
    if errors:
        raise errors[0]
    return summarize(pgn, cfg)


def write_headers(
    rec: GameRecord, cfg: MatchConfig, opp: EngineSpec, job: Job, opening: Opening, engine_white: bool, seed: int
) -> None:
    h = rec.game.headers
    eng = cfg.engine
    white, black = (eng, opp) if engine_white else (opp, eng)
    h["Event"] = f"chessformer bench: {eng.name} vs {opp.name}"
    h["Site"] = "bench"
    h["Date"] = datetime.date.today().strftime("%Y.%m.%d")
    h["Round"] = str(job.number + 1)
    h["White"], h["Black"] = white.name, black.name
    h["Result"] = rec.result
    h["Termination"] = rec.termination
    h["WhiteEngine"], h["BlackEngine"] = white.describe(), black.describe()
    h["EngineSeed"] = str(seed)
    h["OpponentSeed"] = str(opponent_seed(seed))
    h["BenchEngineColor"] = "white" if engine_white else "black"
    h["Opening"] = opening.name
    if cfg.clock:
        h["TimeControl"] = f"{cfg.clock[0]:g}+{cfg.clock[1]:g}"
    else:
        h["TimeControl"] = f"movetime {cfg.movetime:g}s" if cfg.movetime else "-"
    if cfg.max_moves:
        h["MaxMoves"] = str(cfg.max_moves)
    h["MatchId"] = cfg.match_id(opp)
    h["GameNumber"] = str(job.number)
    h["PlyCount"] = str(rec.game.end().ply() - rec.game.ply())


def summarize(pgn: Path, cfg: MatchConfig) -> dict[str, dict[str, float]]:
    """Per opponent, from the engine's side: games, wins, draws, losses, score, forfeits."""
    ids = {cfg.match_id(o): o.name for o in cfg.opponents}
    out: dict[str, Counter[str]] = {name: Counter() for name in ids.values()}
    for h in finished_headers([pgn]):
        name = ids.get(h.get("MatchId", ""))
        if name is None:
            continue
        c = out[name]
        engine_white = h.get("BenchEngineColor") == "white"
        res = h["Result"]
        won = (res == "1-0") == engine_white and res != "1/2-1/2"
        c["games"] += 1
        c["wins" if won else "draws" if res == "1/2-1/2" else "losses"] += 1
        if h.get("Termination", "").startswith("forfeit"):
            c["opponent_forfeits" if won else "engine_forfeits"] += 1
    keys = ("games", "wins", "draws", "losses", "engine_forfeits", "opponent_forfeits")
    return {
        name: {
            **{k: float(c[k]) for k in keys},
            "score": (c["wins"] + 0.5 * c["draws"]) / c["games"] if c["games"] else 0.0,
        }
        for name, c in out.items()
    }


def cli(argv: list[str]) -> int:
    """``python -m chessformer.bench match``."""
    from chessformer.bench.engines import parse_engine_spec
    from chessformer.bench.match import MatchConfig, load_openings, run_match

    p = argparse.ArgumentParser(
        prog="python -m chessformer.bench match", description="An engine against UCI opponents, to PGN."
    )
    p.add_argument("--engine", default="chessformer:temperature=0", help="engine spec (see bench/engines.py)")
    p.add_argument(
        "--opponent",
        action="append",
        required=True,
        help="opponent spec, repeatable: stockfish:skill=0, random, cmd=...",
    )
    p.add_argument("--games", type=int, default=2, help="games per opponent (colours alternate)")
    p.add_argument("--openings", type=Path, help="PGN or EPD file of openings (default: the start position)")
    p.add_argument("--movetime", type=float, default=0.1, help="seconds per move (ignored with --tc)")
    p.add_argument("--tc", help="clock as base+increment in seconds, e.g. 60+0.6")
    p.add_argument("--max-moves", type=int, help="adjudicate a draw after this many full moves (the paper: 89)")
    p.add_argument(
        "--adjudicate-cp", type=int, help="Stockfish-score adjudication: a side ahead by this many centipawns..."
    )
    p.add_argument("--adjudicate-plies", type=int, default=6, help="...for this many consecutive plies wins")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--pgn", type=Path, required=True, help="output PGN (appended; finished games are skipped on re-run)"
    )
    p.add_argument(
        "--batched",
        action="store_true",
        help="run the chessformer engine in-process, one batched forward per ply for all games",
    )
    p.add_argument("--backend", default="auto", help="with --batched: the inference backend")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        engine = parse_engine_spec(a.engine)
        opponents = [parse_engine_spec(o) for o in a.opponent]
        clock = None
        if a.tc:
            base, _, inc = a.tc.partition("+")
            clock = (float(base), float(inc or 0))
        openings = load_openings(a.openings)
    except (ValueError, FileNotFoundError) as e:
        print(f"match: {e}", file=sys.stderr)
        return 2
    cfg = MatchConfig(
        engine,
        opponents,
        a.games,
        openings,
        None if clock else a.movetime,
        clock,
        a.max_moves,
        a.seed,
        adjudicate_cp=a.adjudicate_cp,
        adjudicate_plies=a.adjudicate_plies,
    )
    if a.batched:
        if clock:
            print("match: --batched plays per-move limits only (no --tc)", file=sys.stderr)
            return 2
        from chessformer.bench.batched_match import run_batched_match
        from chessformer.engine.loader import load_model
        from chessformer.engine.weights import WeightsError

        try:
            loaded = load_model(str(engine.options.get("WeightsFile", "<bundled>")), a.backend, 1, 4096)
        except WeightsError as e:
            print(f"match: {e}", file=sys.stderr)
            return 2
        from chessformer.bench.match import engine_log_path, engine_stderr_to

        a.pgn.parent.mkdir(parents=True, exist_ok=True)
        try:
            with engine_stderr_to(engine_log_path(a.pgn)):
                summary = run_batched_match(cfg, loaded.player, a.pgn, a.concurrency, progress=not a.no_progress)
        except ValueError as e:
            print(f"match: {e}", file=sys.stderr)
            return 2
    else:
        summary = run_match(cfg, a.pgn, a.concurrency, progress=not a.no_progress)
    from chessformer.bench.match import engine_log_path

    print(f"engines' stderr: {engine_log_path(a.pgn)}", file=sys.stderr)
    for name, s in summary.items():
        print(
            f"{cfg.engine.name} vs {name}: +{s.get('wins', 0):g} ={s.get('draws', 0):g} -{s.get('losses', 0):g}"
            f"  score {s['score']:.3f}  forfeits engine {s.get('engine_forfeits', 0):g} opponent {s.get('opponent_forfeits', 0):g}",
            file=sys.stderr,
        )
    print(json.dumps(summary))
    return 0
