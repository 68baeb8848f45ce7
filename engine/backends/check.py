"""check: runs two backends on every batch and reports their largest difference (lc0's check backend).

It returns the first backend's results, so the engine plays exactly as with that
backend, and logs to stderr whenever the largest policy-logit difference of a batch
exceeds ``tolerance``. Parity tests use it to compare every fast backend to torch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from chessformer.engine.backends.base import Backend, Evaluation
from chessformer.engine.tokenizer import InputSpec, TokenSequence

log = logging.getLogger("chessformer")


class CheckBackend(Backend):
    name = "check"

    def __init__(self, main: Backend, reference: Backend, tolerance: float = 1e-3) -> None:
        if main.block_size != reference.block_size:
            raise ValueError("check: the two backends run different models")
        self.main, self.reference, self.tolerance = main, reference, tolerance
        self.max_policy_diff = 0.0  # largest |logit difference| seen so far
        self.max_value_diff = 0.0
        self.batches = 0

    @property
    def block_size(self) -> int:
        return self.main.block_size

    @property
    def inputs(self) -> InputSpec:
        return self.main.inputs

    def evaluate(self, sequences: Sequence[TokenSequence]) -> list[Evaluation]:
        a = self.main.evaluate(sequences)
        b = self.reference.evaluate(sequences)
        pd = max(float(np.abs(x.policy_logits - y.policy_logits).max()) for x, y in zip(a, b, strict=True))
        vd = max(float(np.abs(x.wdl_logits - y.wdl_logits).max()) for x, y in zip(a, b, strict=True))
        self.max_policy_diff = max(self.max_policy_diff, pd)
        self.max_value_diff = max(self.max_value_diff, vd)
        self.batches += 1
        if pd > self.tolerance or vd > self.tolerance:
            log.warning(
                "check: %s vs %s differ by %.2e (policy) %.2e (value)", self.main.name, self.reference.name, pd, vd
            )
        return a

    def clear_cache(self) -> None:
        self.main.clear_cache()
        self.reference.clear_cache()

    def set_cache_limit(self, megabytes: int) -> None:
        self.main.set_cache_limit(megabytes)
        self.reference.set_cache_limit(megabytes)
