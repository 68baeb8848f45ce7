"""Training batches from token shards: sampling, length bucketing, deterministic order.

A sample is a game from its start, ``[POS(start or FEN)] + moves[:block_size-1]``, or
with probability ``mid_game_fraction`` a continuation ``[POS(board at ply p)] +
moves[p:p+block_size-1]`` from a stored anchor, so the model learns the FEN path and
the re-anchored windows of long games. Every input token has a target, the window's
last one included (the move after the window), unless the game ends there.

Batches are built in pools: pool ``p`` draws its samples from ``Random(seed, p)``,
sorts them by length and cuts them into batches of at most ``batch_tokens`` padded
tokens (little padding), then shuffles the batches. Batch ``i`` is therefore a pure
function of (seed, i): a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import chess
import numpy as np
import torch

from chessformer.engine.tokenizer import MAX_FEATURES, PAD_FEATURE, PAD_ID, POS_ID, board_features, rating_code
from chessformer.training.board_replay import compact_rows, rating_columns, scale_of_source, track_rows
from chessformer.training.mirror import MIRROR_MOVE, mirror_features
from chessformer.training.shards import Shard, list_shards, load_shard

START_FEATURES = np.array(board_features(chess.Board()), dtype=np.int64)
_STM_BLACK = 769  # the side-to-move feature index for black (engine/tokenizer.py)
IGNORE = -100  # target index ignored by the loss


class Sample(NamedTuple):
    """One training window (module doc)."""

    moves: np.ndarray  # [k] int64 move ids from the anchor (the last may be a target only)
    feats: np.ndarray  # [MAX_FEATURES] int64 anchor board features
    result: int  # +1 / 0 / -1 for the anchor's side to move
    legal: list[np.ndarray] | None  # per move, the legal move ids of its position, or None
    ratings: tuple[int, int] = (0, 0)  # rating codes (engine/tokenizer.py rating_code) of the anchor's side, the other
    rows: np.ndarray | None = None  # [n_in, W] int64 per-token feature rows (with_rows), or None


@dataclass(frozen=True)
class RowSpec:
    """Which per-token feature rows a model reads (ModelConfig.board_every_ply / rating_condition)."""

    board_every_ply: bool = False
    rating_condition: bool = False
    rating_dropout: float = 0.0  # samples whose ratings are given as unknown (fraction)
    threat_inputs: bool = False  # each board row also holds its threat features (ModelConfig.threat_inputs)

    @property
    def plain(self) -> bool:
        return not (self.board_every_ply or self.rating_condition)


def with_rows(samples: list[Sample], block_size: int, spec: RowSpec, chunk: int = 4096) -> list[Sample]:
    """The samples with their per-token feature rows, the boards tracked for many at once."""
    if spec.plain:
        return samples
    out: list[Sample] = []
    for c in range(0, len(samples), chunk):
        part = samples[c : c + chunk]
        n_in = [min(len(s.moves) + 1, block_size) for s in part]
        T = max(n_in)
        if spec.board_every_ply:
            ids = np.full((len(part), max(T - 1, 1)), PAD_ID, dtype=np.int64)
            for i, s in enumerate(part):
                ids[i, : n_in[i] - 1] = s.moves[: n_in[i] - 1]
            anchors = torch.from_numpy(np.stack([s.feats for s in part]))
            tracked = track_rows(anchors, torch.from_numpy(ids), spec.threat_inputs)[:, :T]  # [N, T, W]
            boards = (compact_rows(tracked) if spec.threat_inputs else tracked).numpy()
        else:  # the anchor on POS, padding on the moves
            boards = np.full((len(part), T, MAX_FEATURES), PAD_FEATURE, dtype=np.int64)
            boards[:, 0] = np.stack([s.feats for s in part])
        if spec.rating_condition:
            codes = np.array([s.ratings for s in part], dtype=np.int64)  # [N, 2]
            boards = np.concatenate([boards, rating_columns(codes, T)], axis=2)
        out.extend(s._replace(rows=boards[i, : n_in[i]]) for i, s in enumerate(part))
    return out


@dataclass
class Batch:
    tokens: torch.Tensor  # [B, T] int64 input ids (PAD_ID after each sequence)
    anchors: torch.Tensor  # [B, MAX_FEATURES] int64 POS features
    policy_targets: torch.Tensor  # [B, T] int64 next move id, IGNORE where none
    value_targets: torch.Tensor  # [B, T] int64 0 win / 1 draw / 2 loss for the side to move, IGNORE on padding
    real_tokens: int  # tokens that are not padding
    legal: torch.Tensor | None = (
        None  # [B, T, K] int64 legal move ids of each target's position, -1 padded; None unless asked
    )
    features: torch.Tensor | None = None  # [B, T, W] int64 per-token feature rows, or None (anchor only)

    @property
    def inputs(self) -> torch.Tensor:
        """What the model reads besides the tokens: the rows if there are any, else the anchors."""
        return self.anchors if self.features is None else self.features


class GameIndex:
    """All games of a data folder, split into train and validation by a hash of the game."""

    def __init__(self, folder: Path, val_permille: int = 5, legal: bool = False) -> None:
        names = list_shards(folder)
        if not names:
            raise FileNotFoundError(
                f"no complete shards in {folder} (run python -m chessformer.training prepare first)"
            )
        self.shards: list[Shard] = [load_shard(folder, n) for n in names]
        self.legal = legal  # samples carry each target's legal move ids
        if legal:
            missing = [sh.name for sh in self.shards if sh.legal is None]
            if missing:
                raise ValueError(
                    f"{folder}: shards {', '.join(missing[:3])} have no legal move lists; "
                    "prepare the data with legal_moves = true (prepare --legal-moves)"
                )
        refs = [(s, g) for s, sh in enumerate(self.shards) for g in range(len(sh.games))]
        # Stable split: a game's side never changes when shards are added after it.
        is_val = [((s * 1_000_003 + g) * 2654435761 >> 7) % 1000 < val_permille for s, g in refs]
        self.train = [r for r, v in zip(refs, is_val, strict=True) if not v]
        self.val = [r for r, v in zip(refs, is_val, strict=True) if v]
        # Mid-game anchors of game g of shard s: rows mid_rows[s][mid_lo[s][g]:mid_hi[s][g]] of its anchor table.
        self.mid_rows: list[np.ndarray] = []
        self.mid_lo: list[np.ndarray] = []
        self.mid_hi: list[np.ndarray] = []
        for sh in self.shards:
            rows = np.nonzero(sh.anchors["ply"] > 0)[0]
            owners = sh.anchors["game"][rows]  # ascending: anchors are written game by game
            ids = np.arange(len(sh.games))
            self.mid_rows.append(rows)
            self.mid_lo.append(np.searchsorted(owners, ids, side="left"))
            self.mid_hi.append(np.searchsorted(owners, ids, side="right"))
        self.tokens = sum(int(sh.info["tokens"]) for sh in self.shards)
        # each shard's rating scale, from its source file's name (lichess, chess.com, FIDE; or unknown)
        self.scales = [scale_of_source(str(sh.info.get("source", sh.name))) for sh in self.shards]

    def sample(
        self,
        ref: tuple[int, int],
        block_size: int,
        rng: random.Random,
        mid_game_fraction: float,
        mirror_fraction: float = 0.0,
        end_game_fraction: float = 0.0,
        end_game_plies: int = 0,
    ) -> Sample:
        """(moves, anchor features, result for the anchor's side to move: +1/0/-1, legal move ids
        of each move's position or None); colour-mirrored (training/mirror.py) with
        probability ``mirror_fraction``.

        With probability ``end_game_fraction``, a decisive game's sample starts from an anchor in
        its last ``end_game_plies`` plies (where it is won: mates, conversions), if it has one."""
        s, g = ref
        sh = self.shards[s]
        game = sh.games[g]
        off, n = int(game["offset"]), int(game["length"])
        lo, hi = int(self.mid_lo[s][g]), int(self.mid_hi[s][g])
        first = hi  # the sample starts at an anchor in mid_rows[s][first:hi]; none if first == hi
        # rng is drawn only when the option is on, so earlier configs see the same batches
        if end_game_fraction > 0 and int(game["result"]) != 0 and hi > lo and rng.random() < end_game_fraction:
            plies = sh.anchors["ply"][self.mid_rows[s][lo:hi]]  # ascending within a game
            first = lo + int(np.searchsorted(plies, n - end_game_plies))
        if first == hi and hi > lo and rng.random() < mid_game_fraction:
            first = lo
        if first < hi:
            row = sh.anchors[self.mid_rows[s][first + rng.randrange(hi - first)]]
            ply, feats = int(row["ply"]), row["features"].astype(np.int64)
        else:
            ply = 0
            fa = int(game["fen_anchor"])
            feats = sh.anchors[fa]["features"].astype(np.int64) if fa >= 0 else START_FEATURES
        # block_size moves: block_size - 1 are read, and the last also the target of the window's last token
        end = off + min(n, ply + block_size)
        moves = np.asarray(sh.tokens[off + ply : end], dtype=np.int64)
        black_to_move = bool((feats == _STM_BLACK).any())
        result = int(game["result"]) * (-1 if black_to_move else 1)
        white_code = rating_code(self.scales[s], int(game["white_elo"]))
        black_code = rating_code(self.scales[s], int(game["black_elo"]))
        ratings = (black_code, white_code) if black_to_move else (white_code, black_code)
        legal = None
        if self.legal:
            assert sh.legal is not None and sh.legal_offsets is not None
            lo_hi = sh.legal_offsets[off + ply : end + 1]
            legal = [np.asarray(sh.legal[a:b], dtype=np.int64) for a, b in zip(lo_hi[:-1], lo_hi[1:], strict=True)]
        if mirror_fraction > 0 and rng.random() < mirror_fraction:
            # the result stays: it is the side to move's, and mirroring keeps who that is in the game
            # the ratings stay too: they are the side to move's and its opponent's
            feats, moves = mirror_features(feats), MIRROR_MOVE[moves]
            legal = None if legal is None else [MIRROR_MOVE[x] for x in legal]
        return Sample(moves, feats, result, legal, ratings)


def collate(samples: list[Sample], block_size: int) -> Batch:
    """Pad samples into a Batch; targets as in the sequence contract (engine/tokenizer.py).

    A sample's moves past ``block_size - 1`` are targets only: the window's last token
    predicts the move after it, as it must at inference when a sequence fills the window
    (with a short window, such as block_size 2, that is every position the engine sees).
    """
    T = min(max(len(s[0]) for s in samples) + 1, block_size)
    B = len(samples)
    tokens = np.full((B, T), PAD_ID, dtype=np.int64)
    policy = np.full((B, T), IGNORE, dtype=np.int64)
    value = np.full((B, T), IGNORE, dtype=np.int64)
    anchors = np.zeros((B, MAX_FEATURES), dtype=np.int64)
    # rows of different samples may differ in width (with_rows compacts each chunk): pad to the widest
    width = max((s.rows.shape[1] for s in samples if s.rows is not None), default=0)
    rows = None if samples[0].rows is None else np.full((B, T, width), PAD_FEATURE, dtype=np.int64)
    with_legal = samples[0][3] is not None
    K = max((len(x) for s in samples for x in (s[3] or [])), default=1)  # the longest legal move list
    legal = np.full((B, T, K), -1, dtype=np.int64) if with_legal else None
    real = 0
    for i, (moves, feats, result, legal_ids, _, sample_rows) in enumerate(samples):
        k = len(moves)  # targets
        n_in = min(k + 1, block_size)  # input tokens: POS and the moves that fit
        tokens[i, 0] = POS_ID
        tokens[i, 1:n_in] = moves[: n_in - 1]
        policy[i, :k] = moves  # position j predicts the move after it
        # side to move alternates; result +1/0/-1 for the anchor's side -> class 0/1/2
        sign = np.where(np.arange(n_in) % 2 == 0, result, -result)
        value[i, :n_in] = 1 - sign
        anchors[i] = feats
        if rows is not None:
            assert sample_rows is not None and len(sample_rows) == n_in
            rows[i, :n_in, : sample_rows.shape[1]] = sample_rows
        real += n_in
        if legal is not None:
            assert legal_ids is not None and len(legal_ids) == k
            for j, ids in enumerate(legal_ids):
                legal[i, j, : len(ids)] = ids
    return Batch(
        torch.from_numpy(tokens),
        torch.from_numpy(anchors),
        torch.from_numpy(policy),
        torch.from_numpy(value),
        real,
        None if legal is None else torch.from_numpy(legal),
        None if rows is None else torch.from_numpy(rows),
    )


def bucket_by_length(samples: list[Sample], batch_tokens: int, block_size: int) -> list[list[Sample]]:
    """Groups of similar length whose padded size (as collate pads them) stays within batch_tokens."""
    samples = sorted(samples, key=lambda s: len(s[0]))
    groups: list[list[Sample]] = []
    cur: list[Sample] = []
    for s in samples:
        # sorted ascending, so this sample's length is the group's padded length
        if (
            cur and (len(cur) + 1) * min(len(s[0]) + 1, block_size) > batch_tokens
        ):  # + 1: POS; a window holds block_size
            groups.append(cur)
            cur = []
        cur.append(s)
    if cur:
        groups.append(cur)
    return groups


class BatchStream:
    """Deterministic training batches: ``batch(i)`` is the same for the same seed whatever ran before."""

    def __init__(
        self,
        index: GameIndex,
        block_size: int,
        batch_tokens: int,
        seed: int,
        mid_game_fraction: float,
        pool_batches: int = 64,
        mirror_fraction: float = 0.0,
        end_game_fraction: float = 0.0,
        end_game_plies: int = 0,
        rows: RowSpec = RowSpec(),
    ) -> None:
        self.index, self.block_size, self.batch_tokens = index, block_size, batch_tokens
        self.rows = rows
        self.seed, self.mid, self.pool_batches = seed, mid_game_fraction, pool_batches
        self.mirror = mirror_fraction
        self.end_fraction, self.end_plies = end_game_fraction, end_game_plies
        self._pool_id = -1
        self._pool: list[list[Sample]] = []

    def _build_pool(self, p: int) -> list[list[Sample]]:
        rng = random.Random(self.seed * 1_000_003 + p)
        train = self.index.train
        avg = max(8, self.index.tokens // max(1, len(train) + len(self.index.val)))
        n = max(1, self.pool_batches * self.batch_tokens // min(avg + 1, self.block_size))
        samples = [
            self.index.sample(
                train[rng.randrange(len(train))],
                self.block_size,
                rng,
                self.mid,
                self.mirror,
                self.end_fraction,
                self.end_plies,
            )
            for _ in range(n)
        ]
        if self.rows.rating_dropout > 0:  # drawn after the samples, so the samples do not change with it
            samples = [s._replace(ratings=(0, 0)) if rng.random() < self.rows.rating_dropout else s for s in samples]
        samples = with_rows(samples, self.block_size, self.rows)
        batches = bucket_by_length(samples, self.batch_tokens, self.block_size)
        rng.shuffle(batches)
        return batches[: self.pool_batches] if len(batches) >= self.pool_batches else batches

    def batch(self, i: int) -> Batch:
        """Batch number i (0-based)."""
        # Pools may yield slightly fewer batches than pool_batches; index by a fixed stride anyway.
        p, j = divmod(i, self.pool_batches)
        if p != self._pool_id:
            self._pool, self._pool_id = self._build_pool(p), p
        return collate(self._pool[j % len(self._pool)], self.block_size)


def validation_batches(
    index: GameIndex, block_size: int, batch_tokens: int, max_games: int, seed: int = 1234, rows: RowSpec = RowSpec()
) -> list[Batch]:
    """A fixed validation set: held-out games, each from its start and from mid-game anchors.

    A long window covers most of a game from one anchor; a short one (a board reader,
    block_size 1 or 2) sees a position or two, so it gets ``32 // block_size`` mid-game
    windows per game: otherwise a few hundred held-out games give a few hundred positions.
    """
    rng = random.Random(seed)
    refs = index.val[:max_games]
    samples = [index.sample(r, block_size, rng, 0.0) for r in refs]
    samples += [index.sample(r, block_size, rng, 1.0) for r in refs for _ in range(max(1, 32 // block_size))]
    samples = with_rows(samples, block_size, replace(rows, rating_dropout=0.0))
    return [collate(b, block_size) for b in bucket_by_length(samples, batch_tokens, block_size)]
