"""``python -m chessformer.training COMMAND``: the data pipeline, the trainer and the weights tools (``--help`` lists them)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from chessformer.engine.commands import Command, dispatch, lazy_cli


def _lazy(module: str) -> Callable[[list[str]], int]:
    return lazy_cli(f"chessformer.training.{module}")


COMMANDS = {
    "prepare": Command(
        "PGN files (.pgn, .zst, .bz2, .gz) to token shards, filtered by rating cap and more", _lazy("prepare")
    ),
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
    return dispatch("python -m chessformer.training", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
