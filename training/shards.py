"""Token shards: the on-disk format between ``prepare`` and ``train``.

A shard ``NAME`` in a data folder is four files, the JSON written last (its presence
marks the shard complete, so an interrupted prepare redoes only unfinished shards):

- ``NAME.tokens.u16``: move token ids of all games, concatenated (raw uint16, memmapped).
- ``NAME.games.npy``: one GAME_DTYPE row per game (offset and length into the tokens,
  result, ratings, the row of its FEN anchor or -1 for the standard start).
- ``NAME.anchors.npy``: ANCHOR_DTYPE rows, board features of the POS token at some
  plies of each game (every ``anchor_every`` plies, and ply 0 of FEN set-ups), for
  samples that start mid-game.
- ``NAME.keys.npy``: uint64 de-duplication keys of the games (for resuming).
- only when prepared with ``legal_moves``: ``NAME.legal.u16``, the sorted legal move ids
  of every ply concatenated in token order (raw uint16, memmapped), and
  ``NAME.legal_offsets.npy``, int64 [n_tokens + 1]: token i's list is
  ``legal[offsets[i]:offsets[i + 1]]``. train's ``policy_loss = "legal"`` reads them.
- ``NAME.json``: counts, filter statistics, rating histogram.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chessformer.engine.tokenizer import MAX_FEATURES

GAME_DTYPE = np.dtype(
    [
        ("offset", "<i8"),
        ("length", "<i4"),
        ("result", "i1"),
        ("white_elo", "<i2"),
        ("black_elo", "<i2"),
        ("fen_anchor", "<i4"),
    ]
)
ANCHOR_DTYPE = np.dtype([("game", "<i4"), ("ply", "<i2"), ("features", "<u2", (MAX_FEATURES,))])


@dataclass
class Shard:
    """A loaded shard: tokens memmapped, tables in memory."""

    name: str
    tokens: np.ndarray  # uint16 [n_tokens]
    games: np.ndarray  # GAME_DTYPE [n_games]
    anchors: np.ndarray  # ANCHOR_DTYPE [n_anchors]
    info: dict[str, Any]
    legal: np.ndarray | None = None  # uint16 [n_legal]: legal move ids of every ply, or None
    legal_offsets: np.ndarray | None = None  # int64 [n_tokens + 1] into legal, or None


def _replace(tmp: Path, final: Path) -> None:
    os.replace(tmp, final)


def write_shard(
    folder: Path,
    name: str,
    tokens: np.ndarray,
    games: np.ndarray,
    anchors: np.ndarray,
    keys: np.ndarray,
    info: dict[str, Any],
    legal: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Write a shard atomically: data files first, then the JSON that marks it complete.

    legal: (flat legal move ids, offsets), see the module doc.
    """
    folder.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, np.ndarray]] = [
        (".tokens.u16", tokens.astype("<u2")),
        (".games.npy", games),
        (".anchors.npy", anchors),
        (".keys.npy", keys),
    ]
    if legal is not None:
        files += [(".legal.u16", legal[0].astype("<u2")), (".legal_offsets.npy", legal[1].astype(np.int64))]
    for suffix, arr in files:
        tmp = folder / f"{name}{suffix}.tmp"
        with open(tmp, "wb") as f:
            if suffix.endswith(".npy"):
                np.save(f, arr)
            else:
                arr.tofile(f)
        _replace(tmp, folder / f"{name}{suffix}")
    tmp = folder / f"{name}.json.tmp"
    tmp.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    _replace(tmp, folder / f"{name}.json")


def shard_is_complete(folder: Path, name: str) -> bool:
    return (folder / f"{name}.json").is_file()


def load_shard_keys(folder: Path, name: str) -> np.ndarray:
    return np.load(folder / f"{name}.keys.npy")


def _memmap_u16(path: Path) -> np.ndarray:
    return np.memmap(path, dtype="<u2", mode="r") if path.stat().st_size else np.zeros(0, dtype="<u2")


def load_shard(folder: Path, name: str) -> Shard:
    info = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    shard = Shard(
        name=name,
        tokens=_memmap_u16(folder / f"{name}.tokens.u16"),
        games=np.load(folder / f"{name}.games.npy"),
        anchors=np.load(folder / f"{name}.anchors.npy"),
        info=info,
    )
    if info.get("legal_moves"):
        shard.legal = _memmap_u16(folder / f"{name}.legal.u16")
        shard.legal_offsets = np.load(folder / f"{name}.legal_offsets.npy")
    return shard


def list_shards(folder: Path) -> list[str]:
    """Names of the complete shards in a data folder, sorted (the manifest is not a shard)."""
    return sorted(
        p.name[: -len(".json")]
        for p in folder.glob("*.json")
        if p.name != "manifest.json" and not p.name.endswith(".tmp")
    )
