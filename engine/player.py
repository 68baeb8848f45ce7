"""The player: legal-move distributions, temperature and sampling. The only place they live.

A backend gives logits over the whole move vocabulary; the player keeps the legal
moves of the position (optionally restricted, as UCI ``searchmoves`` asks), turns
their logits into probabilities and samples at a temperature tau:

    p_tau(m) = p(m) ** (1 / tau) / sum over legal m' of p(m') ** (1 / tau)

which is a softmax of ``logits / tau`` over the legal moves; tau = 0 is the argmax.

Draw avoidance (the ``DrawAvoidance`` option, on by default since it was measured to win more): at low temperature a model
plays the same moves in the same positions and can shuffle a won game into a repetition. With
the option on and the side to move not behind in material (``material_balance`` >= 0), the
candidates lose every move after which the game can end drawn by rule (stalemate, insufficient
material, a position seen before, a claim the opponent's reply allows), unless no other move is
left. The gate is material, not the value head, because value heads of small models can be flat
(W + D/2 near 0.5 whoever is ahead), which would switch the option on or off by the head's bias;
material is crude but the same for every model (experiments/transcendence/REPORT.md has the
measurements behind both choices).

Mate in one (the ``MateInOne`` option, on by default): when some candidate mates at once, the
candidates are the mating moves alone. Human games seldom reach the lopsided endings a model
reaches against weak opponents (players resign first), so the model never learned to finish
them: it would shuffle a queen and a rook up into the fifty-move rule. A one-ply rule check is
exact and costs a few milliseconds; it does not search, and temperature still chooses among the
mates.

Material guard (the ``MaterialGuard`` option, on by default since it was measured to win more):
the candidates lose every move that gives away material by exchange next to the best candidate,
or allows mate in one (engine/material.py). It runs after the mate filter, so a mate is never
left out. With draw avoidance on, a move that lets the game end drawn counts in the guard as
losing the lead (taking the last piece into stalemate is no gain), and the draw filter then runs
on the moves the guard kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import chess
import numpy as np

from chessformer.engine.backends.base import Backend
from chessformer.engine.material import guard_material, material_balance
from chessformer.engine.tokenizer import InputSpec, encode_board, move_id

Rating = tuple[str | None, int | None]  # (rating scale, rating); None: unknown

# lichess's model of win probability against centipawns: E = 1 / (1 + exp(-K * cp))
_LICHESS_K = 0.00368208
MAX_CP = 2000  # centipawn scores are clamped to +-MAX_CP
PAPER_TRIES = 5  # the paper's harness retries an illegal sampled move up to five times


@dataclass(frozen=True)
class PositionEval:
    """The model's view of one position, for the side to move.

    moves: candidate moves (legal, or the searchmoves subset, less the drawing moves when
        draws are avoided), most probable first.
    logits: their policy logits, same order (float64).
    probs: softmax of the logits over the candidates (tau = 1).
    wdl: win/draw/loss probabilities for the side to move (sum 1).
    """

    moves: tuple[chess.Move, ...]
    logits: np.ndarray
    probs: np.ndarray
    wdl: np.ndarray

    def probs_at(self, temperature: float) -> np.ndarray:
        return temperature_probs(self.logits, temperature)


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - np.max(x))
    return z / z.sum()


def temperature_probs(logits: np.ndarray, temperature: float) -> np.ndarray:
    """p_tau over the given logits; tau = 0 puts all mass on the first argmax."""
    if not (temperature >= 0.0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0.0:
        p = np.zeros_like(logits)
        p[int(np.argmax(logits))] = 1.0
        return p
    return softmax(logits / temperature)


def sample_index(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Index of a move drawn from p_tau (argmax when tau = 0)."""
    if temperature == 0.0:
        return int(np.argmax(logits))
    p = temperature_probs(logits, temperature)
    return int(rng.choice(len(p), p=p))


def allows_draw_by_rule(board: chess.Board, move: chess.Move) -> bool:
    """After ``move``, can the game end drawn by rule: stalemate, insufficient material, a
    position that occurred before (a repetition in the making), or a draw the opponent can
    claim, now or with its reply (threefold repetition, fifty moves)? The reply matters: a
    model that never repeats its own positions still lets a shuffling opponent king
    complete the third occurrence."""
    board.push(move)
    try:
        return (
            board.is_stalemate() or board.is_insufficient_material() or board.is_repetition(2) or board.can_claim_draw()
        )
    finally:
        board.pop()


def gives_mate(board: chess.Board, move: chess.Move) -> bool:
    """Does ``move`` checkmate at once? (The check test first: it is cheap and rules out most moves.)"""
    if not board.gives_check(move):
        return False
    board.push(move)
    try:
        return board.is_checkmate()
    finally:
        board.pop()


def expected_score(wdl: np.ndarray) -> float:
    """W + D/2 of a win/draw/loss distribution (side to move)."""
    return float(wdl[0] + 0.5 * wdl[1])


def wdl_to_cp(wdl: np.ndarray) -> int:
    """Centipawns for a win/draw/loss distribution, inverting lichess's win-probability model."""
    e = min(max(expected_score(wdl), 1e-6), 1 - 1e-6)
    cp = math.log(e / (1 - e)) / _LICHESS_K
    return int(round(max(-MAX_CP, min(MAX_CP, cp))))


def wdl_permille(wdl: np.ndarray) -> tuple[int, int, int]:
    """Integer per-mille W, D, L summing to exactly 1000."""
    w = min(1000, max(0, round(1000 * float(wdl[0]))))
    loss = min(1000 - w, max(0, round(1000 * float(wdl[2]))))
    return w, 1000 - w - loss, loss


class Player:
    """Turns a backend's logits into move distributions and choices for chess positions."""

    def __init__(self, backend: Backend, ratings: tuple[Rating, Rating] = ((None, None), (None, None))) -> None:
        self.backend = backend
        self.ratings = ratings  # (own, opponent): what a rating-conditioned model is told (UCI Rating options)
        self.own_colour: chess.Color | None = None  # the colour that plays as ratings[0]; None: the side to move

    def input_spec(self, board: chess.Board) -> InputSpec | None:
        """The model's inputs for ``board``, the side to move playing as ``ratings[0]``; None when it reads the anchor alone."""
        spec = self.backend.inputs
        if spec.plain:
            return None
        own, opp = self.ratings
        own_colour = board.turn if self.own_colour is None else self.own_colour
        white, black = (own, opp) if own_colour == chess.WHITE else (opp, own)
        return replace(spec, white=white, black=black)

    def evaluate_many(
        self,
        boards: Sequence[chess.Board],
        searchmoves: Sequence[Iterable[chess.Move] | None] | None = None,
        avoid_draws: bool = False,
        take_mates: bool = False,
        guard: bool = False,
    ) -> list[PositionEval]:
        """One PositionEval per board (each with its move stack), in one backend batch.

        Every board must have at least one candidate move. ``avoid_draws``: the module's
        draw avoidance (boards need their move stacks for the repetition test); ``take_mates``:
        its mate in one (only the mating moves stay, if there are any); ``guard``: engine/material.py's
        material guard.
        """
        seqs = [encode_board(b, self.backend.block_size, self.input_spec(b)) for b in boards]
        outs = self.backend.evaluate(seqs)
        candidates = [
            self._candidates(board, searchmoves[i] if searchmoves is not None else None, avoid_draws, take_mates, guard)
            for i, board in enumerate(boards)
        ]
        result = []
        for board, out, moves in zip(boards, outs, candidates, strict=True):
            ids = np.array([move_id(board, m) for m in moves])
            logits = out.policy_logits[ids].astype(np.float64)
            order = np.argsort(-logits, kind="stable")
            logits = logits[order]
            result.append(
                PositionEval(
                    moves=tuple(moves[j] for j in order),
                    logits=logits,
                    probs=softmax(logits),
                    wdl=softmax(out.wdl_logits.astype(np.float64)),
                )
            )
        return result

    @staticmethod
    def _candidates(
        board: chess.Board, allowed: Iterable[chess.Move] | None, avoid_draws: bool, take_mates: bool, guard: bool
    ) -> list[chess.Move]:
        """The legal moves (or the searchmoves among them) the player chooses from, after the rule filters."""
        moves = list(board.legal_moves)
        if allowed is not None:
            allowed_set = set(allowed)
            moves = [m for m in moves if m in allowed_set] or moves
        if not moves:
            raise ValueError(f"no legal move in {board.fen()}")
        if take_mates:  # before the draw filter: a mate ends the game, it never allows a draw
            moves = [m for m in moves if gives_mate(board, m)] or moves
        ahead = material_balance(board)
        avoid = avoid_draws and ahead >= 0
        if guard:  # a move that lets the game end drawn gives up the lead: it counts as losing that much
            moves = guard_material(board, moves, (lambda m: allows_draw_by_rule(board, m)) if avoid else None, ahead)
        if avoid:
            moves = [m for m in moves if not allows_draw_by_rule(board, m)] or moves
        return moves

    def evaluate(
        self,
        board: chess.Board,
        searchmoves: Iterable[chess.Move] | None = None,
        avoid_draws: bool = False,
        take_mates: bool = False,
        guard: bool = False,
    ) -> PositionEval:
        """The model's distribution over the candidate moves of ``board``."""
        return self.evaluate_many([board], [searchmoves], avoid_draws, take_mates, guard)[0]

    def paper_sample(
        self, board: chess.Board, temperature: float, rng: np.random.Generator, tries: int = PAPER_TRIES
    ) -> tuple[chess.Move | None, list[str]]:
        """The paper harness's move for a character model (engine/backends/nanogpt_backend.py):
        characters sampled at ``temperature``, up to ``tries`` times until they name a legal move.
        Returns (the move, or None after ``tries`` failures; every sampled response)."""
        from chessformer.engine.backends.nanogpt_backend import NanoGPTBackend, paper_move

        backend = self.backend
        if not isinstance(backend, NanoGPTBackend):
            raise ValueError(f"the paper's sampler needs a character nanoGPT model, not backend {backend.name}")
        game = backend.game_text(encode_board(board, backend.block_size))
        responses = []
        for _ in range(tries):
            text = backend.sample_text(game, temperature, rng)
            responses.append(text)
            move = paper_move(text, board)
            if move is not None:
                return move, responses
        return None, responses

    @staticmethod
    def pick(ev: PositionEval, temperature: float, rng: np.random.Generator) -> chess.Move:
        """The move drawn from ``ev`` at ``temperature``: how the engine, the batched runner and
        the sweep all choose (one place)."""
        return ev.moves[sample_index(ev.logits, temperature, rng)]

    def choose(
        self,
        board: chess.Board,
        temperature: float,
        rng: np.random.Generator,
        avoid_draws: bool = False,
        take_mates: bool = False,
    ) -> chess.Move:
        """A move for ``board`` sampled at ``temperature``."""
        return self.pick(self.evaluate(board, avoid_draws=avoid_draws, take_mates=take_mates), temperature, rng)
