"""``python -m training COMMAND``: the data pipeline, the trainer and the weights tools (``--help`` lists them)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from engine.commands import Command, dispatch
from training.filters import TIME_CLASSES, FilterConfig


def _prepare(argv: list[str]) -> int:
    from training.prepare import PrepareConfig, prepare

    p = argparse.ArgumentParser(prog="python -m training prepare", description="PGN files to token shards.")
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


def _lazy(module: str) -> Callable[[list[str]], int]:
    """The ``cli`` of ``training.<module>``, imported when the command runs (torch loads only then)."""

    def run(argv: list[str]) -> int:
        return int(importlib.import_module(f"training.{module}").cli(argv))

    return run


COMMANDS = {
    "prepare": Command("PGN files (.pgn, .zst, .bz2, .gz) to token shards, filtered by rating cap and more", _prepare),
    "train": Command(
        "train a ChessFormer on token shards (one machine, or many GPUs through torchrun)", _lazy("train")
    ),
    "export": Command("a training checkpoint to engine weights (safetensors + JSON)", _lazy("export")),
    "heldout": Command("top-1 agreement with the human move on held-out games, by rating band", _lazy("heldout")),
    "convert-paper": Command(
        "a Transcendence-format ckpt_*.pt to engine weights, no pickle afterwards", _lazy("convert_paper")
    ),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m training", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
