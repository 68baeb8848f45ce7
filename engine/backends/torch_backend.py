"""The reference backend: eager PyTorch, fp32, CPU or CUDA, with a prefix KV cache.

Every sequence it evaluates is remembered with its KV cache (least recently used
first out, bounded in megabytes). A request that extends a remembered sequence, such
as the same game after the opponent's reply, or the game plus one candidate move,
costs decode steps for the new tokens only. Requests are evaluated one at a time:
this backend is the readable reference that faster ones are checked against.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from chessformer.engine.backends.base import Backend, Evaluation
from chessformer.engine.model import ChessFormer, KVCache
from chessformer.engine.tokenizer import TokenSequence


@dataclass
class _CacheEntry:
    cache: KVCache  # per layer (keys, values), each [1, H, len(sequence), D]
    evaluation: Evaluation
    nbytes: int


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, model: ChessFormer, device: str | None = None, cache_mb: int = 128) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).float().eval()
        self._entries: OrderedDict[TokenSequence, _CacheEntry] = OrderedDict()
        self._bytes = 0
        self._limit = cache_mb << 20
        self.decoded_tokens = 0  # tokens run through the model since creation (for tests and stats)

    @property
    def block_size(self) -> int:
        return self.model.cfg.block_size

    def clear_cache(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def set_cache_limit(self, megabytes: int) -> None:
        self._limit = max(0, megabytes) << 20
        self._evict()

    def _evict(self) -> None:
        while self._entries and self._bytes > self._limit:
            _, old = self._entries.popitem(last=False)
            self._bytes -= old.nbytes

    def _longest_cached_prefix(self, seq: TokenSequence) -> tuple[TokenSequence, _CacheEntry] | None:
        best: tuple[TokenSequence, _CacheEntry] | None = None
        for cached, entry in self._entries.items():
            if cached.is_prefix_of(seq) and (best is None or len(cached) > len(best[0])):
                best = (cached, entry)
        return best

    @torch.inference_mode()
    def _evaluate_one(self, seq: TokenSequence) -> Evaluation:
        if len(seq) > self.block_size:
            raise ValueError(f"sequence of {len(seq)} tokens exceeds block_size {self.block_size}")
        hit = self._longest_cached_prefix(seq)
        if hit is not None and hit[0] == seq:
            self._entries.move_to_end(seq)
            return hit[1].evaluation
        tokens = seq.tokens()
        past = None
        start = 0
        if hit is not None:
            start = len(hit[0])
            tokens = tokens[start:]
            past = hit[1].cache
            self._entries.move_to_end(hit[0])
        tok = torch.tensor([tokens], dtype=torch.long, device=self.device)  # [1, T]
        rows = [seq.row(t) for t in range(start, len(seq))]
        features = torch.tensor([rows], dtype=torch.long, device=self.device)  # [1, T, F]: each new token's row
        policy, value, cache = self.model(tok, features, past, last_only=True)
        self.decoded_tokens += len(tokens)
        evaluation = Evaluation(
            policy_logits=policy[0, -1].float().cpu().numpy(),
            wdl_logits=value[0, -1].float().cpu().numpy(),
        )
        # the evaluation counts too: a squares model caches no keys, and its entries must still be evicted
        nbytes = evaluation.policy_logits.nbytes + evaluation.wdl_logits.nbytes
        nbytes += sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in cache)
        self._entries[seq] = _CacheEntry(cache, evaluation, nbytes)
        self._bytes += nbytes
        self._evict()
        return evaluation

    def evaluate(self, sequences: Sequence[TokenSequence]) -> list[Evaluation]:
        return [self._evaluate_one(s) for s in sequences]
