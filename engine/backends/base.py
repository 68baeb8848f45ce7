"""The backend interface: batched next-move logits for token sequences.

Like lc0's backend API, a backend knows nothing of chess rules, temperature or
sampling (those live once, in engine/player.py). It takes sequences
(engine/tokenizer.py's TokenSequence) and returns, for each, the logits of the move
after its last token and the win/draw/loss logits for the side to move there.

KV caching is the backend's own business: a backend may remember sequences it has
seen and, for a request that extends one of them, compute only the new tokens. The
caller only ever passes whole sequences, so a backend without a cache is correct too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chessformer.engine.tokenizer import InputSpec, TokenSequence


@dataclass(frozen=True)
class Evaluation:
    """The model's output after a sequence's last token."""

    policy_logits: np.ndarray  # [N_MOVES] float32, unnormalised, over the whole vocabulary
    wdl_logits: np.ndarray  # [3] float32: win, draw, loss for the side to move


class Backend(ABC):
    """Evaluates batches of token sequences for one loaded model."""

    name: str = "abstract"

    @property
    @abstractmethod
    def block_size(self) -> int:
        """Longest sequence the model accepts (tokens, POS included)."""

    @property
    def inputs(self) -> InputSpec:
        """What the model reads besides its tokens (its ModelConfig); the player adds the ratings."""
        cfg = getattr(getattr(self, "model", None), "cfg", None)
        if cfg is None:
            return InputSpec()
        every_ply, rated = getattr(cfg, "board_every_ply", False), getattr(cfg, "rating_condition", False)
        return InputSpec(
            board_every_ply=every_ply, rating_condition=rated, threat_inputs=getattr(cfg, "threat_inputs", False)
        )

    @abstractmethod
    def evaluate(self, sequences: Sequence[TokenSequence]) -> list[Evaluation]:
        """One Evaluation per sequence, in order. Sequences longer than block_size raise ValueError."""

    def clear_cache(self) -> None:  # noqa: B027 - optional for cache-less backends
        """Forget cached sequences (a new game, or memory to give back)."""

    def set_cache_limit(self, megabytes: int) -> None:  # noqa: B027 - optional
        """Bound the memory the KV cache may hold (the UCI Hash option)."""
