"""``python -m training {prepare,train,export}``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"prepare": _prepare}
    try:
        from training.train import cli as train_cli

        commands["train"] = train_cli
        from training.export import cli as export_cli

        commands["export"] = export_cli
        from training.generate import cli as generate_cli

        commands["generate"] = generate_cli
        from training.heldout import cli as heldout_cli

        commands["heldout"] = heldout_cli
        from training.convert_paper import cli as convert_cli

        commands["convert-paper"] = convert_cli
    except ImportError:
        pass
    if not argv or argv[0] not in commands:
        print(f"usage: python -m training {{{','.join(commands)}}} ...", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
