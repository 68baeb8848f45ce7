"""``python -m chessformer.training prepare``: PGN files to token shards and a manifest.

Streaming and constant-memory: the main process decompresses and cuts games (header
filters run there, they are cheap); a pool of ``--workers`` processes replays the
moves. Shard k of a source file holds its raw games ``[k*S, (k+1)*S)``, so a re-run
skips complete shards and redoes only the unfinished one.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import chess
import numpy as np

from chessformer.engine.pgn import IllegalMove, RawGame, find_pgn_files, iter_raw_games, movetext_tokens, resolve_san
from chessformer.engine.tokenizer import TOKENIZER_VERSION, board_features, move_id
from chessformer.engine.weights import file_sha256
from chessformer.training.fast_replay import AVAILABLE as FAST_AVAILABLE
from chessformer.training.fast_replay import replay_sans_fast
from chessformer.training.filters import FilterConfig, header_rejection, parse_elo
from chessformer.training.shards import (
    ANCHOR_DTYPE,
    GAME_DTYPE,
    list_shards,
    load_shard_keys,
    shard_is_complete,
    write_shard,
)


class TruncatedGame(ValueError):
    """Movetext that stops without its result marker (a cut file)."""


RESULT_CODE = {"1-0": 1, "1/2-1/2": 0, "0-1": -1}
_SITE_ID = re.compile(r"(lichess\.org/|chess\.com/game/(?:live|daily)/)(\w+)")


@dataclass
class PrepareConfig:
    """Options of ``prepare``."""

    filters: FilterConfig = field(default_factory=FilterConfig)
    workers: int = 2  # replay processes (count)
    shard_games: int = 50_000  # raw games per shard (count)
    chunk_games: int = 500  # games per worker task (count)
    anchor_every: int = 24  # a mid-game anchor every this many plies (plies)
    replay: str = "auto"  # "fastchess" (C, the `fast` extra), "python-chess", or "auto": fastchess if installed
    legal_moves: bool = (
        False  # store every ply's legal move ids, for train's policy_loss "legal" (~30x the token bytes)
    )


@dataclass
class _Task:
    source: int  # index of the source file
    shard: int  # shard number within the source
    games: list[
        tuple[int, str, str, str | None, int | None, int | None, str]
    ]  # (index, movetext, result, fen, welo, belo, dedup site)
    rejected: Counter[str]
    raw: int  # raw games covered
    skip: bool = False  # shard already complete: only carries its bookkeeping
    last: bool = False  # the last task of this shard


@dataclass
class _Replayed:
    index: int
    moves: np.ndarray  # uint16 move ids
    result: int
    welo: int
    belo: int
    fen_features: tuple[int, ...] | None
    anchors: list[tuple[int, tuple[int, ...]]]  # (ply, features)
    key: int
    legal: list[np.ndarray] | None  # per ply, the sorted legal move ids (PrepareConfig.legal_moves)


def _key(site: str, movetext_moves: np.ndarray, players: str) -> int:
    m = _SITE_ID.search(site)
    h = hashlib.blake2b(digest_size=8)
    if m:
        h.update(m.group(0).encode())
    else:
        h.update(players.encode())
        h.update(movetext_moves.tobytes())
    return int.from_bytes(h.digest(), "little")


def replay_game(
    movetext: str, fen: str | None, anchor_every: int, fast: bool = False, with_legal: bool = False
) -> tuple[np.ndarray, tuple[int, ...] | None, list[tuple[int, tuple[int, ...]]], list[np.ndarray] | None]:
    """Move ids, FEN-anchor features, mid-game anchors and (``with_legal``) each ply's sorted
    legal move ids, of one game; IllegalMove on bad moves.

    ``fast``: replay with fastchess (training/fast_replay.py) instead of python-chess.
    """
    sans, marker = movetext_tokens(movetext)
    if marker is None:
        raise TruncatedGame("movetext has no result marker")
    if fast:
        return replay_sans_fast(sans, fen, anchor_every, with_legal)
    try:
        board = chess.Board(fen) if fen else chess.Board()
    except ValueError as e:
        raise IllegalMove(f"bad FEN: {e}") from None
    fen_features = board_features(board) if fen else None
    ids = np.empty(len(sans), dtype=np.uint16)
    anchors: list[tuple[int, tuple[int, ...]]] = []
    legal: list[np.ndarray] | None = [] if with_legal else None
    for ply, san in enumerate(sans):
        if ply and ply % anchor_every == 0:
            anchors.append((ply, board_features(board)))
        if legal is not None:
            legal.append(np.array(sorted(move_id(board, m) for m in board.legal_moves), dtype=np.uint16))
        mv = resolve_san(board, san)
        ids[ply] = move_id(board, mv)
        board.push(mv)
        if board.was_into_check():
            raise IllegalMove(f"{san}: leaves the king in check")
    return ids, fen_features, anchors, legal


def _work(args: tuple[_Task, int, int, bool, bool]) -> tuple[_Task, list[_Replayed], Counter[str]]:
    task, anchor_every, min_plies, fast, with_legal = args
    out: list[_Replayed] = []
    bad: Counter[str] = Counter()
    if task.skip:
        return task, out, bad
    for index, movetext, result, fen, welo, belo, site_players in task.games:
        try:
            ids, fen_feats, anchors, legal = replay_game(movetext, fen, anchor_every, fast, with_legal)
        except IllegalMove:
            bad["illegal_move"] += 1
            continue
        except TruncatedGame:
            bad["truncated"] += 1
            continue
        except Exception:  # noqa: BLE001 - any unparsable game is counted, not fatal
            bad["unparsable"] += 1
            continue
        if len(ids) < min_plies:
            bad["min_plies"] += 1
            continue
        site, _, players = site_players.partition("\x00")
        out.append(
            _Replayed(
                index,
                ids,
                RESULT_CODE[result],
                welo or 0,
                belo or 0,
                fen_feats,
                anchors,
                _key(site, ids, players),
                legal,
            )
        )
    task.games = []  # do not ship the text back
    return task, out, bad


def use_fast_replay(cfg: PrepareConfig) -> bool:
    """Whether to replay with fastchess (see PrepareConfig.replay)."""
    if cfg.replay not in ("auto", "fastchess", "python-chess"):
        raise ValueError(f"replay must be auto, fastchess or python-chess, got {cfg.replay!r}")
    if cfg.replay == "fastchess" and not FAST_AVAILABLE:
        raise ValueError("replay fastchess needs the fast extra: pip install 'chessformer[fast]'")
    return cfg.replay == "fastchess" or (cfg.replay == "auto" and FAST_AVAILABLE)


def _tasks(
    files: list[Path], out: Path, cfg: PrepareConfig, read_errors: list[str]
) -> Iterator[tuple[_Task, int, int, bool, bool]]:
    f = cfg.filters
    fast = use_fast_replay(cfg)
    for si, path in enumerate(files):
        stem = _shard_stem(path)
        task = _Task(si, 0, [], Counter(), 0)
        complete_cache: dict[int, bool] = {}

        def is_done(k: int, stem: str = stem, complete_cache: dict[int, bool] = complete_cache) -> bool:
            if k not in complete_cache:
                complete_cache[k] = shard_is_complete(out, f"{stem}-{k:05d}")
            return complete_cache[k]

        for item in iter_raw_games(path):
            if isinstance(item, str):
                read_errors.append(item)
                continue
            g: RawGame = item
            k = g.index // cfg.shard_games
            if k != task.shard:
                task.last = True
                yield task, cfg.anchor_every, f.min_plies, fast, cfg.legal_moves
                task = _Task(si, k, [], Counter(), 0)
            task.skip = is_done(k)
            task.raw += 1
            if task.skip:
                continue
            reason = header_rejection(g.headers, f)
            if reason:
                task.rejected[reason] += 1
            else:
                h = g.headers
                fen = h.get("FEN") if h.get("SetUp", "1" if "FEN" in h else "0") == "1" else None
                site_players = h.get("Site", "") + "\x00" + h.get("White", "?") + "|" + h.get("Black", "?")
                task.games.append(
                    (
                        g.index,
                        g.movetext,
                        h["Result"],
                        fen,
                        parse_elo(h.get("WhiteElo")),
                        parse_elo(h.get("BlackElo")),
                        site_players,
                    )
                )
            if len(task.games) >= cfg.chunk_games:
                yield task, cfg.anchor_every, f.min_plies, fast, cfg.legal_moves
                task = _Task(si, k, [], Counter(), 0)
        task.last = True
        yield task, cfg.anchor_every, f.min_plies, fast, cfg.legal_moves


def _shard_stem(path: Path) -> str:
    name = path.name
    for s in (".zst", ".bz2", ".gz"):
        name = name.removesuffix(s)
    return re.sub(r"[^\w.-]", "_", name.removesuffix(".pgn"))


class _ShardBuilder:
    def __init__(self) -> None:
        self.games: list[_Replayed] = []
        self.counts: Counter[str] = Counter()
        self.raw = 0

    def write(self, out: Path, name: str, source: str, with_legal: bool) -> dict[str, Any]:
        n = len(self.games)
        games = np.zeros(n, dtype=GAME_DTYPE)
        n_anchor = sum(len(g.anchors) + (g.fen_features is not None) for g in self.games)
        anchors = np.zeros(n_anchor, dtype=ANCHOR_DTYPE)
        tokens = np.concatenate([g.moves for g in self.games]) if n else np.zeros(0, dtype=np.uint16)
        offset, a = 0, 0
        for i, g in enumerate(self.games):
            fen_row = -1
            if g.fen_features is not None:
                anchors[a] = (i, 0, g.fen_features)
                fen_row, a = a, a + 1
            for ply, feats in g.anchors:
                anchors[a] = (i, ply, feats)
                a += 1
            games[i] = (offset, len(g.moves), g.result, g.welo, g.belo, fen_row)
            offset += len(g.moves)
        hist = Counter((max(g.welo, g.belo) // 100) * 100 for g in self.games)
        info = {
            "source": source,
            "raw_games": self.raw,
            "games": n,
            "tokens": int(tokens.size),
            "removed": dict(self.counts),
            "rating_histogram": {str(k): v for k, v in sorted(hist.items())},
            "tokenizer_version": TOKENIZER_VERSION,
            "legal_moves": with_legal,
        }
        keys = np.array([g.key for g in self.games], dtype=np.uint64)
        legal = None
        if with_legal:
            per_ply = [ids for g in self.games for ids in (g.legal or [])]
            if len(per_ply) != tokens.size:
                raise RuntimeError(f"shard {name}: {len(per_ply)} legal move lists for {tokens.size} plies")
            offsets = np.zeros(len(per_ply) + 1, dtype=np.int64)
            np.cumsum([len(x) for x in per_ply], out=offsets[1:])
            flat = np.concatenate(per_ply) if per_ply else np.zeros(0, dtype=np.uint16)
            legal = (flat, offsets)
        write_shard(out, name, tokens, games, anchors, keys, info, legal)
        return info


def prepare(inputs: list[Path], out: Path, cfg: PrepareConfig, progress: bool = True) -> dict[str, Any]:
    """Run the pipeline; returns the manifest (also written to out/manifest.json)."""
    from tqdm import tqdm

    files = find_pgn_files(inputs)
    if not files:
        raise ValueError(f"no PGN files in {', '.join(map(str, inputs))}")
    out.mkdir(parents=True, exist_ok=True)
    for name in list_shards(out):  # a resumed run must not mix shards with and without legal move lists
        had = bool(json.loads((out / f"{name}.json").read_text(encoding="utf-8")).get("legal_moves", False))
        if had != cfg.legal_moves:
            raise ValueError(
                f"{out}/{name} was prepared with legal_moves={had}, this run asks for {cfg.legal_moves}: "
                "use another output folder"
            )
    read_errors: list[str] = []
    seen: set[int] = set()
    builders: dict[tuple[int, int], _ShardBuilder] = {}
    t0 = time.time()
    bar = tqdm(desc="prepare", unit=" games", disable=not progress, smoothing=0.1)
    workers = cfg.workers
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if workers > 1 and main_file is not None and not Path(main_file).exists():
        # spawned workers re-run __main__ from its file; a script read from stdin has none, and
        # multiprocessing.Pool would restart the failing workers forever instead of raising
        print(f"prepare: __main__ is {main_file}, which worker processes cannot load: using 1 worker", file=sys.stderr)
        workers = 1
    ctx = mp.get_context("spawn") if workers > 1 else None
    pool = ctx.Pool(workers) if ctx else None
    try:
        it = _tasks(files, out, cfg, read_errors)
        results = pool.imap(_work, it, chunksize=1) if pool else map(_work, it)
        for task, replayed, bad in results:
            key = (task.source, task.shard)
            name = f"{_shard_stem(files[task.source])}-{task.shard:05d}"
            b = builders.setdefault(key, _ShardBuilder())
            if task.skip:
                if task.last:
                    seen.update(int(x) for x in load_shard_keys(out, name))
                    del builders[key]
                bar.update(task.raw)
                continue
            b.raw += task.raw
            b.counts.update(task.rejected)
            b.counts.update(bad)
            for g in replayed:
                if cfg.filters.dedup and g.key in seen:
                    b.counts["duplicate"] += 1
                    continue
                seen.add(g.key)
                b.games.append(g)
            bar.update(task.raw)
            if task.last:
                b.write(out, name, files[task.source].name, cfg.legal_moves)
                del builders[key]
    finally:
        bar.close()
        if pool:
            pool.close()
            pool.join()
    elapsed = time.time() - t0
    manifest = write_manifest(out, files, cfg, read_errors)
    manifest["last_run"] = {
        "seconds": round(elapsed, 1),
        "raw_games_per_second": round(manifest["raw_games"] / max(elapsed, 1e-9), 1),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def write_manifest(out: Path, files: list[Path], cfg: PrepareConfig, read_errors: list[str]) -> dict[str, Any]:
    """Sum the shards' statistics into the manifest."""
    removed: Counter[str] = Counter()
    hist: Counter[int] = Counter()
    games = tokens = raw = 0
    shards = list_shards(out)
    for name in shards:
        info = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        removed.update(info["removed"])
        hist.update({int(k): v for k, v in info["rating_histogram"].items()})
        games += info["games"]
        tokens += info["tokens"]
        raw += info["raw_games"]
    manifest = {
        "tokenizer_version": TOKENIZER_VERSION,
        "sources": [{"file": str(p), "sha256": file_sha256(p), "bytes": p.stat().st_size} for p in files],
        "filters": asdict(cfg.filters),
        "anchor_every": cfg.anchor_every,
        "legal_moves": cfg.legal_moves,
        "replay": "fastchess" if use_fast_replay(cfg) else "python-chess",
        "shards": shards,
        "raw_games": raw,
        "games": games,
        "tokens": tokens,
        "removed": dict(sorted(removed.items())),
        "read_errors": read_errors,
        "rating_histogram": {str(k): v for k, v in sorted(hist.items())},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def cli(argv: list[str]) -> int:
    """``python -m chessformer.training prepare``."""
    import argparse
    import json
    import sys

    from chessformer.training.filters import TIME_CLASSES

    p = argparse.ArgumentParser(prog="python -m chessformer.training prepare", description="PGN files to token shards.")
    p.add_argument("inputs", nargs="+", type=Path, help=".pgn/.pgn.zst/.pgn.bz2/.pgn.gz files or folders of them")
    p.add_argument("--out", type=Path, required=True, help="output folder for shards and manifest.json")
    p.add_argument("--max-elo", type=int, help="keep games whose players are both rated at most this")
    p.add_argument("--min-elo", type=int, help="keep games whose players are both rated at least this")
    p.add_argument(
        "--time-control",
        action="append",
        choices=TIME_CLASSES,
        default=[],
        help="keep only these speed classes (repeatable)",
    )
    p.add_argument("--rated-only", action="store_true", help="both ratings known, event not casual/unrated")
    p.add_argument("--allow-variants", action="store_true", help="keep non-standard variants (default: standard only)")
    p.add_argument("--min-plies", type=int, default=2)
    p.add_argument("--keep-bots", action="store_true")
    p.add_argument("--keep-duplicates", action="store_true")
    p.add_argument(
        "--players", default="", help="comma-separated names: keep games between these players only (expert pools)"
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--replay",
        choices=("auto", "fastchess", "python-chess"),
        default="auto",
        help="move replay engine (auto: fastchess if installed)",
    )
    p.add_argument("--shard-games", type=int, default=50_000)
    p.add_argument("--anchor-every", type=int, default=24, help="plies between stored mid-game anchors")
    p.add_argument(
        "--legal-moves",
        action="store_true",
        help="store every ply's legal moves, for train's policy_loss legal (about 30x the token bytes)",
    )
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    filters = FilterConfig(
        max_elo=a.max_elo,
        min_elo=a.min_elo,
        time_classes=tuple(a.time_control),
        rated_only=a.rated_only,
        standard_only=not a.allow_variants,
        min_plies=a.min_plies,
        no_bots=not a.keep_bots,
        dedup=not a.keep_duplicates,
        players=tuple(n.strip() for n in a.players.split(",") if n.strip()),
    )
    cfg = PrepareConfig(
        filters=filters,
        workers=a.workers,
        shard_games=a.shard_games,
        anchor_every=a.anchor_every,
        replay=a.replay,
        legal_moves=a.legal_moves,
    )
    try:
        m = prepare(a.inputs, a.out, cfg, progress=not a.no_progress)
    except (ValueError, FileNotFoundError) as e:
        print(f"prepare: {e}", file=sys.stderr)
        return 2
    summary = {k: m[k] for k in ("raw_games", "games", "tokens", "removed", "last_run")}
    print(json.dumps(summary))
    return 0
