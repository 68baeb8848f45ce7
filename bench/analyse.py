"""``python -m chessformer.bench analyse``: the paper's move-quality table (Table 1) and dataset entropy (Figure 4).

Table 1. Over positions where the model moved in its games against an opponent, the
model's move distribution p_tau is computed at each temperature and every legal move is
scored by Stockfish (MultiPV over all moves). The reward of a move is the win
probability of the position after it, from Stockfish's WDL under lichess's model,
for the mover. Where the paper averages 100 sampled moves per position, we take the
exact expectation under p_tau (no sampling noise):

    reward(tau) = mean over positions of sum_m p_tau(m) reward(m)
    top-k(tau)  = mean over positions of sum over Stockfish's top-k moves of p_tau(m)

Entropy. For start-position games of a token shard folder: every state (the move
sequence so far) within the first ``max_ply`` plies that occurs more than
``min_visits`` times; the normalised entropy of its next-move distribution is
H(next move) / log(number of legal moves). The paper reports the mean (0.70 for its
1000-capped data, 0.64 for 1500) and a histogram.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import chess
import chess.engine
import chess.pgn
import numpy as np

TABLE1_TEMPERATURES = (0.001, 0.75, 1.0)


@dataclass(frozen=True)
class MoveQualityRow:
    temperature: float
    reward: float  # mean expected win probability for the mover after the model's move (0..1)
    reward_delta: float  # reward minus the reward at the last temperature (tau 1 in the paper)
    top1: float  # probability mass on Stockfish's best move (0..1)
    top3: float
    top5: float
    positions: int


def positions_with_next_moves(
    pgn: Path,
    engine_name_prefix: str,
    limit: int,
    seed: int = 0,
    max_games: int | None = None,
    skip_plies: int = 0,
    with_history: bool = True,
) -> list[tuple[chess.Board, chess.Move]]:
    """Up to ``limit`` boards where a player whose name starts with the prefix is to move
    (an empty prefix: every position), each with the move played there, from the first
    ``max_games`` games that have such a player (all if None), leaving out each game's first
    ``skip_plies`` plies.
    A seeded uniform sample, in game order. ``with_history``: the boards keep their move
    stacks (what a transcript model reads; ~1 kB per ply, so leave it off for large samples)."""
    games: list[tuple[chess.Board, list[chess.Move]]] = []
    candidates: list[tuple[int, int]] = []  # (game, ply): boards are built only for the sample
    with open(pgn, encoding="utf-8", errors="replace") as f:
        read = 0
        while (max_games is None or read < max_games) and (game := chess.pgn.read_game(f)) is not None:
            white = game.headers.get("White", "").startswith(engine_name_prefix)
            black = game.headers.get("Black", "").startswith(engine_name_prefix)
            if not (white or black):
                continue
            read += 1  # counts games with such a player: a filtered file's first games may have none
            root = game.board()
            moves = list(game.mainline_moves())
            turn = root.turn
            for ply in range(len(moves)):
                if ply >= skip_plies and ((turn == chess.WHITE and white) or (turn == chess.BLACK and black)):
                    candidates.append((len(games), ply))
                turn = not turn
            games.append((root, moves))
    rng = np.random.default_rng(seed)
    if len(candidates) > limit:
        candidates = [candidates[i] for i in sorted(rng.choice(len(candidates), limit, replace=False))]
    out = []
    board, at = chess.Board(), (-1, 0)  # the board of game at[0] after at[1] plies
    for g, ply in candidates:  # in game order: each game is replayed once
        root, moves = games[g]
        if at[0] != g:
            board, at = root.copy(), (g, 0)
        for mv in moves[at[1] : ply]:
            board.push(mv)
        at = (g, ply)
        out.append((board.copy(stack=with_history), moves[ply]))
    return out


def model_positions(
    pgn: Path,
    engine_name_prefix: str,
    limit: int,
    seed: int = 0,
    max_games: int | None = None,
    skip_plies: int = 0,
) -> list[chess.Board]:
    """The boards of ``positions_with_next_moves`` (same arguments, same sample)."""
    return [b for b, _ in positions_with_next_moves(pgn, engine_name_prefix, limit, seed, max_games, skip_plies)]


def player_moves(
    pgn: Path, player: str, skip_plies: int = 0, max_games: int | None = None, stack: bool = False
) -> Iterator[tuple[chess.Board, chess.Move]]:
    """(board before, move) for every move of the player named exactly ``player`` after ``skip_plies``
    plies of each game (counted from the game's start position), in up to ``max_games`` of its games
    (None: all); each board a copy, with its move stack if ``stack``. Raises ValueError, once read
    to the end, if no game has a player of that name."""
    games = 0
    with open(pgn, encoding="utf-8", errors="replace") as f:
        while (max_games is None or games < max_games) and (game := chess.pgn.read_game(f)) is not None:
            sides = {
                c for c, tag in ((chess.WHITE, "White"), (chess.BLACK, "Black")) if game.headers.get(tag) == player
            }
            if not sides:
                continue
            games += 1
            board = game.board()
            for i, move in enumerate(game.mainline_moves()):
                if i >= skip_plies and board.turn in sides:
                    yield board.copy(stack=stack), move
                board.push(move)
    if games == 0:
        raise ValueError(f"{pgn}: no game of a player named {player!r}")


def stockfish_move_rewards(
    sf: chess.engine.SimpleEngine, board: chess.Board, seconds: float
) -> dict[chess.Move, float]:
    """Win probability (lichess WDL model) for the mover after each legal move, by Stockfish MultiPV."""
    n = board.legal_moves.count()
    infos = sf.analyse(board, chess.engine.Limit(time=seconds), multipv=n)
    out: dict[chess.Move, float] = {}
    for info in infos:
        if "pv" not in info or not info["pv"]:
            continue
        wdl = info["score"].pov(board.turn).wdl(model="lichess", ply=board.ply())
        out[info["pv"][0]] = wdl.expectation()
    return out


def move_quality_table(
    boards: Sequence[chess.Board],
    probs_at: Callable[[chess.Board, float], tuple[Sequence[chess.Move], np.ndarray]],
    rewards: Sequence[dict[chess.Move, float]],
    temperatures: Sequence[float] = TABLE1_TEMPERATURES,
) -> list[MoveQualityRow]:
    """Table 1 rows from model distributions and per-move rewards (one dict per board).

    ``probs_at(board, tau)`` returns (moves, probabilities) over the legal moves.
    """
    acc = {t: np.zeros(4) for t in temperatures}
    used = 0
    for board, rw in zip(boards, rewards, strict=True):
        if not rw:
            continue
        used += 1
        ranked = sorted(rw, key=lambda m: -rw[m])
        for t in temperatures:
            moves, p = probs_at(board, t)
            r = sum(pi * rw.get(m, 0.0) for m, pi in zip(moves, p, strict=True))
            mass = {m: pi for m, pi in zip(moves, p, strict=True)}
            acc[t] += [
                r,
                sum(mass.get(m, 0.0) for m in ranked[:1]),
                sum(mass.get(m, 0.0) for m in ranked[:3]),
                sum(mass.get(m, 0.0) for m in ranked[:5]),
            ]
    base = acc[temperatures[-1]][0] / max(used, 1)
    rows = []
    for t in temperatures:
        a = acc[t] / max(used, 1)
        rows.append(MoveQualityRow(t, float(a[0]), float(a[0] - base), float(a[1]), float(a[2]), float(a[3]), used))
    return rows


def collect_states(pgns: list[Path], max_ply: int, max_games: int) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """(state keys, next moves, legal-move count per state) of the early plies of start-position games
    read from PGN files (.pgn, .zst, .bz2, .gz, or folders of them)."""
    from chessformer.engine.pgn import IllegalMove, find_pgn_files, iter_raw_games, movetext_tokens, resolve_san
    from chessformer.engine.tokenizer import move_id

    keys: list[int] = []
    nexts: list[int] = []
    legal: dict[int, int] = {}
    seen = 0
    for path in find_pgn_files(pgns):
        for raw in iter_raw_games(path):
            if seen >= max_games:
                break
            if isinstance(raw, str) or "FEN" in raw.headers:  # a read error; or a set-up position
                continue
            seen += 1
            h = hashlib.blake2b(digest_size=8)  # the state key: a hash of the moves so far
            board = chess.Board()
            for san in movetext_tokens(raw.movetext)[0][:max_ply]:
                try:
                    move = resolve_san(board, san)
                except IllegalMove:
                    break
                key = int.from_bytes(h.digest(), "little")
                if key not in legal:
                    legal[key] = board.legal_moves.count()
                keys.append(key)
                mid = move_id(board, move)
                nexts.append(mid)
                board.push(move)
                h.update(np.array([mid], dtype=np.uint16).tobytes())
    return np.array(keys, dtype=np.uint64), np.array(nexts, dtype=np.int64), legal


def state_entropies(pgns: list[Path], max_ply: int = 16, min_visits: int = 100, max_games: int = 500_000) -> np.ndarray:
    """Normalised next-move entropies of the states visited more than ``min_visits`` times."""
    k, m, legal = collect_states(pgns, max_ply, max_games)
    if not len(k):
        return np.zeros(0)
    order = np.lexsort((m, k))
    k, m = k[order], m[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], len(k)]
    out = []
    for s, e in zip(starts, ends, strict=True):
        n_legal = legal[int(k[s])]
        if e - s <= min_visits or n_legal < 2:
            continue
        _, counts = np.unique(m[s:e], return_counts=True)
        p = counts / counts.sum()
        out.append(float(-(p * np.log(p)).sum() / math.log(n_legal)))
    return np.array(out)


def entropy_report(
    pgns: list[Path], out_png: Path, max_ply: int = 16, min_visits: int = 100, max_games: int = 500_000
) -> dict[str, float]:
    """Mean normalised entropy and a histogram PNG."""
    ent = state_entropies(pgns, max_ply, min_visits, max_games)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean = float(ent.mean()) if len(ent) else float("nan")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(ent, bins=30, range=(0, 1), color="tab:blue")
    ax.set_xlabel("normalised entropy of the next move")
    ax.set_ylabel("states")
    ax.set_title(
        f"{', '.join(p.name for p in pgns)}: {len(ent)} states (> {min_visits} visits, first {max_ply} plies), mean {mean:.3f}"
    )
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return {"states": float(len(ent)), "mean_normalised_entropy": mean}


def table1_report(rows: list[MoveQualityRow]) -> str:
    lines = [
        "| tau | reward (win %) | delta vs last | top-1 | top-3 | top-5 | positions |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.temperature:g} | {100 * r.reward:.2f} | {100 * r.reward_delta:+.2f} | {100 * r.top1:.2f} | {100 * r.top3:.2f} | {100 * r.top5:.2f} | {r.positions} |"
        )
    return "\n".join(lines)


def run_table1(
    pgn: Path, weights: str, engine_prefix: str, positions: int, sf_seconds: float, out_json: Path | None
) -> list[MoveQualityRow]:
    from tqdm import tqdm

    from chessformer.bench.engines import stockfish_path
    from chessformer.engine.loader import load_model

    loaded = load_model(weights, "auto", 1, 256)
    boards = model_positions(pgn, engine_prefix, positions)
    if not boards:
        raise ValueError(f"no positions of a player named {engine_prefix!r}* in {pgn}")

    def probs_at(board: chess.Board, t: float) -> tuple[tuple[chess.Move, ...], np.ndarray]:
        ev = loaded.player.evaluate(board)
        return ev.moves, ev.probs_at(t)

    sf = chess.engine.SimpleEngine.popen_uci(stockfish_path())
    try:
        rewards = [stockfish_move_rewards(sf, b, sf_seconds) for b in tqdm(boards, desc="stockfish", unit="pos")]
    finally:
        sf.quit()
    rows = move_quality_table(boards, probs_at, rewards)
    if out_json:
        out_json.write_text(json.dumps([r.__dict__ for r in rows], indent=1) + "\n")
    return rows


def cli(argv: list[str]) -> int:
    """``python -m chessformer.bench analyse``."""
    from chessformer.bench.analyse import entropy_report, run_table1, table1_report

    p = argparse.ArgumentParser(
        prog="python -m chessformer.bench analyse", description="The paper's Table 1 and its entropy figure."
    )
    sub = p.add_subparsers(dest="what", required=True)
    t1 = sub.add_parser(
        "table1", help="move quality at temperatures 0.001, 0.75, 1 over the model's positions in a PGN"
    )
    t1.add_argument("pgn", type=Path, help="games of the model (e.g. from bench match or sweep)")
    t1.add_argument("--weights", default="<bundled>")
    t1.add_argument("--player", default="ChessFormer", help="name prefix of the model's player in the PGN")
    t1.add_argument("--positions", type=int, default=100)
    t1.add_argument("--sf-time", type=float, default=1.0, help="Stockfish seconds per position (the paper: 1.0)")
    t1.add_argument("--json", type=Path)
    en = sub.add_parser("entropy", help="normalised entropy of common early states of PGN games (the paper's Fig. 4)")
    en.add_argument("pgn", type=Path, nargs="+", help="PGN files (.pgn, .zst, .bz2, .gz) or folders of them")
    en.add_argument("--png", type=Path, required=True)
    en.add_argument("--max-ply", type=int, default=16)
    en.add_argument("--min-visits", type=int, default=100)
    en.add_argument("--max-games", type=int, default=500_000)
    a = p.parse_args(argv)
    try:
        if a.what == "table1":
            rows = run_table1(a.pgn, a.weights, a.player, a.positions, a.sf_time, a.json)
            print(table1_report(rows))
        else:
            print(json.dumps(entropy_report(a.pgn, a.png, a.max_ply, a.min_visits, a.max_games)))
    except (ValueError, FileNotFoundError) as e:
        print(f"analyse: {e}", file=sys.stderr)
        return 2
    return 0
