"""Slot bookkeeping shared by the static-cache backends (cpu-fast, cuda-graph, tensorrt).

Each slot of a StaticKVCache holds one sequence. For a batch of requests a slot
backend finds, per request, the slot holding its longest cached prefix, gives children
of the same parent a copy of it, prefills requests with no usable prefix, and then
advances every request that still has tokens to read by one decode step per round:
N games cost one batched forward per ply, whatever their lengths.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Sequence

import torch

from chessformer.engine.backends.base import Backend, Evaluation
from chessformer.engine.backends.static_step import StaticKVCache, prefill
from chessformer.engine.model import ChessFormer
from chessformer.engine.tokenizer import POS_ID, TokenSequence

PACK_MIN_ROWS = 8  # decode batches this large have their slots packed into one run (see _pack)
PREFILL_THRESHOLD = 16  # more new tokens than this: recompute the sequence instead of decoding them one by one
SQUARES_PREFILL_MAX_BATCH = 256  # a squares model's prefill is its whole step: rows per forward (as decode's)


class SlotsExhausted(ValueError):
    """A batch needs more KV-cache slots than the backend has."""


class SlotBackend(Backend):
    """Evaluates sequences with a slot-per-sequence static KV cache."""

    prefill_max_batch = 64  # rows per prefill forward (an exported graph's profile may allow fewer)

    def __init__(self, model: ChessFormer, slots: int, device: torch.device, cache_dtype: torch.dtype) -> None:
        self.model = model
        self.device = device
        self.cache = StaticKVCache(model, slots, model.cfg.block_size, cache_dtype, device)
        self._seq: list[TokenSequence | None] = [None] * slots
        self._slot_of_seq: dict[TokenSequence, int] = {}  # the inverse of _seq
        self._eval: list[Evaluation | None] = [None] * slots
        self._lru: OrderedDict[int, None] = OrderedDict((i, None) for i in range(slots))
        self.decoded_tokens = 0  # tokens run through the model (stats and tests)
        self.decode_calls = 0  # batched decode steps
        self.prefill_calls = 0  # batched prefill forwards
        self.pack_swaps = 0  # slot swaps made to keep decode batches in one run (stats and tests)
        if model.squares:
            self.prefill_max_batch = SQUARES_PREFILL_MAX_BATCH

    @property
    def block_size(self) -> int:
        return self.model.cfg.block_size

    def clear_cache(self) -> None:
        self._seq = [None] * self.cache.slots
        self._eval = [None] * self.cache.slots
        self._slot_of_seq.clear()

    # ---- what a concrete backend provides
    @abstractmethod
    def _decode(
        self, slots: torch.Tensor, tokens: torch.Tensor, anchors: torch.Tensor, pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run one decode step for rows (slots [B], tokens [B], anchors [B, F]: each token's feature row, pos [B]),
        write their keys and values into the cache; return policy [B, M] and value [B, 3]."""

    def _prefill(self, seqs: list[TokenSequence], slots: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute sequences of one length from scratch into their slots, in one forward;
        return policy [n, M] and value [n, 3] at their ends.

        Eager by default: prefills happen once per new game or re-anchoring, and their
        lengths vary (a block_size-2 model re-anchors every ply, so all its rows prefill).
        """
        tok = torch.tensor([s.tokens() for s in seqs], device=self.device)  # [n, T]
        rows = torch.tensor([s.all_rows() for s in seqs], device=self.device)  # [n, T, F]
        policy, value, ks, vs = prefill(self.model, tok, rows)  # ks, vs [L, n, H, T, D]
        for r, slot in enumerate(slots):
            self.cache.write_prefix(slot, ks[:, r], vs[:, r])
        return policy, value

    # ---- bookkeeping
    def _take_slot(self, pinned: set[int]) -> int:
        for s in self._lru:
            if s not in pinned:
                self._lru.move_to_end(s)
                self._forget(s)
                return s
        raise SlotsExhausted(f"batch needs more than {self.cache.slots} cache slots")

    def _touch(self, s: int) -> None:
        self._lru.move_to_end(s)

    def _forget(self, s: int) -> None:
        old = self._seq[s]
        if old is not None and self._slot_of_seq.get(old) == s:
            del self._slot_of_seq[old]
        self._seq[s], self._eval[s] = None, None

    def _best_prefix(self, seq: TokenSequence) -> int | None:
        """The slot holding the longest cached prefix of ``seq`` within PREFILL_THRESHOLD tokens of it.

        Shorter prefixes are not worth decoding from (a prefill is cheaper), so at most
        PREFILL_THRESHOLD + 1 dictionary look-ups, whatever the number of slots.
        """
        n = len(seq.moves)
        for k in range(min(n, PREFILL_THRESHOLD) + 1):
            cand = seq if k == 0 else seq.prefix(n - k)
            s = self._slot_of_seq.get(cand)
            if s is not None:
                return s
        return None

    @torch.inference_mode()
    def evaluate(self, sequences: Sequence[TokenSequence]) -> list[Evaluation]:
        for seq in sequences:
            if len(seq) > self.block_size:
                raise ValueError(f"sequence of {len(seq)} tokens exceeds block_size {self.block_size}")
        try:
            return self._evaluate_fitting(sequences)
        except SlotsExhausted:
            if len(sequences) == 1:
                raise
        # more requests (and the parents they pin) than slots: each half on its own (slots taken before
        # the shortfall were only forgotten, nothing was computed)
        half = len(sequences) // 2
        return self.evaluate(sequences[:half]) + self.evaluate(sequences[half:])

    def _evaluate_fitting(self, sequences: Sequence[TokenSequence]) -> list[Evaluation]:
        """evaluate() for a batch that fits the slots."""
        results: list[Evaluation | None] = [None] * len(sequences)
        parent: dict[int, int | None] = {}
        pinned: set[int] = set()
        for i, seq in enumerate(sequences):
            p = self._best_prefix(seq)
            if p is not None and self._seq[p] == seq and self._eval[p] is not None:
                results[i] = self._eval[p]
                self._touch(p)
                pinned.add(p)
            else:
                parent[i] = p
                if p is not None:
                    pinned.add(p)
        children: dict[int | None, list[int]] = {}
        for i, p in parent.items():
            children.setdefault(p, []).append(i)
        # assign a slot per request still to compute: extend the parent in place if it has one child
        slot_of: dict[int, int] = {}
        start: dict[int, int] = {}
        for p, kids in children.items():
            for i in kids:
                seq = sequences[i]
                prefix_len = len(self._seq[p]) if p is not None and self._seq[p] is not None else 0  # type: ignore[arg-type]
                if p is None or len(seq) - prefix_len > PREFILL_THRESHOLD:
                    s = self._take_slot(pinned)
                    pinned.add(s)
                    slot_of[i], start[i] = s, -1  # -1: prefill
                elif len(kids) == 1:
                    slot_of[i], start[i] = p, prefix_len
                else:
                    s = self._take_slot(pinned)
                    pinned.add(s)
                    self.cache.copy_slot(p, s, prefix_len)
                    slot_of[i], start[i] = s, prefix_len
        by_length: dict[int, list[int]] = {}  # prefills, batched by sequence length
        for i, s in slot_of.items():
            self._forget(s)  # invalid until computed
            self._touch(s)
            if start[i] < 0:
                by_length.setdefault(len(sequences[i]), []).append(i)
        for n, rows_n in by_length.items():
            for c in range(0, len(rows_n), self.prefill_max_batch):
                chunk = rows_n[c : c + self.prefill_max_batch]
                policy, value = self._prefill([sequences[i] for i in chunk], [slot_of[i] for i in chunk])
                pre_policy, pre_value = policy.float().cpu().numpy(), value.float().cpu().numpy()  # [n, M], [n, 3]
                for r, i in enumerate(chunk):
                    results[i] = Evaluation(pre_policy[r].copy(), pre_value[r].copy())
                    start[i] = n
                self.decoded_tokens += n * len(chunk)
                self.prefill_calls += 1
        self._pack(sorted((i for i in slot_of if start[i] < len(sequences[i])), key=slot_of.__getitem__), slot_of)
        # decode rounds: every request with tokens left advances by one
        while True:
            # rows in slot order: when their slots form a run, the cache gather is a view, not a copy
            rows = sorted((i for i in slot_of if start[i] < len(sequences[i])), key=slot_of.__getitem__)
            if not rows:
                break
            # token t of a sequence: POS at 0, then its moves (no list of all its tokens per row and step)
            toks = [POS_ID if start[i] == 0 else sequences[i].moves[start[i] - 1] for i in rows]
            slots = torch.tensor([slot_of[i] for i in rows], device=self.device)
            pos = torch.tensor([start[i] for i in rows], device=self.device)
            tok = torch.tensor(toks, device=self.device)
            anchors = torch.tensor([sequences[i].row(start[i]) for i in rows], device=self.device)  # [B, F]
            policy, value = self._decode(slots, tok, anchors, pos)
            self.decoded_tokens += len(rows)
            self.decode_calls += 1
            policy_np = value_np = None  # one host copy per step, not one per row
            for r, i in enumerate(rows):
                start[i] += 1
                if start[i] == len(sequences[i]):
                    if policy_np is None or value_np is None:
                        policy_np = policy.float().cpu().numpy()  # [B, M]
                        value_np = value.float().cpu().numpy()  # [B, 3]
                    results[i] = Evaluation(policy_np[r].copy(), value_np[r].copy())
        for i, s in slot_of.items():
            self._seq[s], self._eval[s] = sequences[i], results[i]
            self._slot_of_seq[sequences[i]] = s
        return [r for r in results if r is not None] if all(r is not None for r in results) else _missing()

    def _pack(self, rows: list[int], slot_of: dict[int, int]) -> None:
        """Move the rows' slots into one run, so that every decode step's cache gather is a view.

        ``rows`` are in slot order. Games that start or end in a batched match take free slots
        wherever the LRU finds them; scattered slots made every step copy the rows' whole
        caches (batch 128 in 256 slots: 16-20 -> 40-48 ms a step). A swap moves the contents
        of two slots (both kept, nothing evicted) once; the rows then stay in place while
        their games go on, so the cost is paid once per new game, not per step.
        """
        B = len(rows)
        current = [slot_of[i] for i in rows]
        if B < PACK_MIN_ROWS or current[-1] - current[0] == B - 1:  # sorted and distinct: a run already
            return
        base = min(current[0], self.cache.slots - B)
        request_at = {s: i for i, s in slot_of.items()}  # every request's slot, rows or not
        for r, i in enumerate(rows):
            src, dst = slot_of[i], base + r
            if src == dst:
                continue
            self.cache.swap_slots(src, dst)
            self._swap_meta(src, dst)
            self._touch(dst)  # the row's game is the most recently used; src keeps its own recency
            other = request_at.get(dst)
            slot_of[i], request_at[dst] = dst, i
            if other is not None:
                slot_of[other], request_at[src] = src, other
            else:
                del request_at[src]
            self.pack_swaps += 1

    def _swap_meta(self, a: int, b: int) -> None:
        """Swap what slots ``a`` and ``b`` are known to hold (their contents were swapped)."""
        sa, sb = self._seq[a], self._seq[b]
        self._seq[a], self._seq[b] = sb, sa
        self._eval[a], self._eval[b] = self._eval[b], self._eval[a]
        if sa is not None and self._slot_of_seq.get(sa) == a:
            self._slot_of_seq[sa] = b
        if sb is not None and self._slot_of_seq.get(sb) == b:
            self._slot_of_seq[sb] = a


def _missing() -> list[Evaluation]:
    raise RuntimeError("internal error: a request was not evaluated")
