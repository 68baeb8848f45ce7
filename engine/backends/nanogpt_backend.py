"""The paper's character-level nanoGPT as a backend: exact log-probabilities of every legal move.

For a position with its game, the transcript is written as the model was trained
(``;1.e4 e5 2.Nf3 ...``). A legal move m then has log p(m), the sum of the log-probabilities
of the characters that write it and end it: the space before it (none at the start of a
game), the move number and dot before a White move, its SAN (with ``+``, ``#``, ``=Q``), and
a delimiter, a following space or ``;`` (the two summed). The delimiter is what keeps
``O-O`` apart from ``O-O-O``. These are the policy logits the player softmaxes at its
temperature, so Temperature, MultiPV and searchmoves work as for a ChessFormer.

All candidates are computed in one forward over the game prefix's KV cache: their strings
form a trie (``" 3.N"`` is shared by every knight move), each trie node is one token that
attends to the prefix and its own ancestors (a tree attention mask), so a position costs one
pass over the distinct characters, not one forward per move. The window's characters not yet
cached (the moves played since the last call) ride in the same forward, causally, so a move
costs one forward. Caches are preallocated per line of play (engine/nanogpt.py ``CharKV``: rows
written in place, never concatenated); a line that leaves another's text gets its own copy
while the Hash option allows, otherwise the one cache is cut back and refilled.

Long games: the window holds ``block_size`` characters. When the transcript and the longest
move string no longer fit, the window starts at a move boundary (the character after a
space) at or past the next multiple of half a window; a window that starts inside a game is
in distribution, as the paper trained on 1023-character blocks cut anywhere in its stream.
The window moves every half window, so the prefix cache is recomputed that often, not every move.

Positions set up from a FEN: the model has seen only games from the start. The transcript is
the moves since the FEN, numbered from 1, a Black first move without a number: out of its
distribution (said once in the log).

Precision: the blocks' matmuls run in bf16 where a start-up probe finds this CPU faster in it
(the paper's models were trained under bf16 autocast), with LayerNorms, the residual stream and
attention in float32; move log-probabilities then differ from float32 by a few hundredths of a
nat. There is no value head: win/draw/loss is uniform, so UCI
``score`` is always ``cp 0`` and ``wdl`` 333/334/333.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import chess
import numpy as np
import torch

from chessformer.engine.backends.base import Backend, Evaluation
from chessformer.engine.nanogpt import GAME_SEPARATOR, STOI, VOCAB, CharKV, NanoGPT, cast_block_matmuls, encode_chars
from chessformer.engine.perf import faster_cpu_matmul_dtype
from chessformer.engine.tokenizer import MOVES, N_MOVES, TokenSequence, board_from_features, move_id

log = logging.getLogger("chessformer")

MOVE_MARGIN = 16  # characters kept free after the prefix: the longest move string, " 150.exd8=Q+", and its delimiter
PLY_LIMIT = 1 << 30  # the player never re-anchors a game for this backend: it windows characters itself
TREE_ROWS = 512  # rows a window cache keeps past the window for the candidate trie (it grows if a trie needs more)
UNREACHABLE = -1e30  # the logit of a move that is not legal here (the player reads only legal moves)
_END = (STOI[" "], STOI[GAME_SEPARATOR])  # the characters that end a move


@dataclass
class GameText:
    """A game as the model reads it: the board after its moves and its transcript so far."""

    board: chess.Board
    text: str  # ";1.e4 e5 2.Nf3": the separator, then the moves
    from_start: bool  # the game began at the standard start position


def move_prefix(board: chess.Board, text: str) -> str:
    """What comes before the next move's SAN: the space, and the move number before a White move."""
    space = " " if text != GAME_SEPARATOR else ""
    number = f"{board.fullmove_number}." if board.turn == chess.WHITE else ""
    return space + number


def write_move(board: chess.Board, text: str, move: chess.Move) -> str:
    """``text`` with ``move`` (legal in ``board``) appended, as the transcript writes it."""
    return text + move_prefix(board, text) + board.san(move)


def window_start(text: str, block_size: int) -> int:
    """Where the model's window starts in ``text`` (module doc): 0 while it fits, else a move
    boundary at or past the next multiple of half a window."""
    overflow = len(text) + MOVE_MARGIN - block_size
    if overflow <= 0:
        return 0
    stride = max(1, block_size // 2)
    at = -(-overflow // stride) * stride  # ceil to a multiple of stride
    space = text.find(" ", at - 1)
    if space < 0 or space + 1 >= len(text):
        raise ValueError(f"no move boundary in the last {len(text) - at} characters of the transcript")
    return space + 1


class NanoGPTBackend(Backend):
    """Exact legal-move log-probabilities of a character nanoGPT (engine/nanogpt.py)."""

    name = "nanogpt"

    def __init__(self, model: NanoGPT, cache_mb: int = 128, dtype: torch.dtype | None = None) -> None:
        """``dtype``: what the blocks' matmuls run in; None measures it on a CPU (bf16 where that
        is faster here, engine/perf.py), float32 elsewhere. The backend owns ``model`` (cast in place)."""
        self.model = model.float().eval()
        if dtype is None:
            c = model.cfg.n_embd  # the tree forward's shape: ~100 candidate characters through the MLP
            on_cpu = next(model.parameters()).device.type == "cpu"
            dtype = faster_cpu_matmul_dtype(128, c, 4 * c) if on_cpu else torch.float32
        cast_block_matmuls(self.model, dtype)
        self.dtype = dtype
        self._games: OrderedDict[TokenSequence, GameText] = OrderedDict()  # recent transcripts, to extend
        self._slots: list[CharKV] = []  # window caches, least recently used first (at least one is kept)
        self._limit = cache_mb << 20
        self._warned_fen = False
        self.forwards = 0  # model calls (tests: one forward per position: new prefix characters and the tree)

    @property
    def block_size(self) -> int:
        return PLY_LIMIT

    def clear_cache(self) -> None:
        self._games.clear()
        self._slots.clear()

    def set_cache_limit(self, megabytes: int) -> None:
        self._limit = max(0, megabytes) << 20
        self._trim()

    def _trim(self) -> None:
        """Drop the least recently used caches past the Hash limit, keeping at least one."""
        while len(self._slots) > 1 and sum(c.nbytes for c in self._slots) > self._limit:
            self._slots.pop(0)

    # ---- transcripts
    def game_text(self, seq: TokenSequence) -> GameText:
        """The board and transcript of ``seq`` (its anchor is the game's root: no re-anchoring here)."""
        n = len(seq.moves)
        for k in range(min(n, 8) + 1):  # a game usually extends a sequence seen a ply or two ago
            hit = self._games.get(seq if k == 0 else seq.prefix(n - k))
            if hit is not None:
                break
        if hit is None:
            root = board_from_features(seq.anchor)
            from_start = root.board_fen() == chess.STARTING_BOARD_FEN and root.turn == chess.WHITE
            if not from_start and not self._warned_fen:
                log.info("nanoGPT: a position from a FEN; the transcript starts there, out of the model's distribution")
                self._warned_fen = True
            hit, k = GameText(root, GAME_SEPARATOR, from_start), n
        board, text = hit.board.copy(stack=False), hit.text
        for mid in seq.moves[n - k :]:
            move = chess.Move.from_uci(MOVES[mid])
            text = write_move(board, text, move)
            board.push(move)
        game = GameText(board, text, hit.from_start)
        self._games[seq] = game
        while len(self._games) > 256:
            self._games.popitem(last=False)
        return game

    # ---- the model
    def _slot_for(self, window: str, rows: int) -> tuple[CharKV, int]:
        """A cache for ``window`` with room for ``rows`` more rows past it, and how many of its first
        characters it already holds. A slot whose text diverges from the window keeps its own line
        (its shared rows are copied into a fresh slot) while the Hash limit allows another slot."""
        best, keep = None, 0
        for slot in self._slots:
            n = len(os.path.commonprefix([slot.text, window]))
            if best is None or n > keep:
                best, keep = slot, n
        need = len(window) + rows
        cfg = self.model.cfg
        capacity = max(cfg.block_size + TREE_ROWS, need)
        room = sum(c.nbytes for c in self._slots) + (best.nbytes if best else 0) <= self._limit
        if best is None or (keep < len(best.text) and room) or best.capacity < need:
            fresh = CharKV(cfg, capacity, device=next(self.model.parameters()).device)
            if best is not None and keep:
                fresh.copy_prefix(best, keep)
            if best is not None and best.capacity < need:
                self._slots.remove(best)  # outgrown: replaced by the bigger one
            self._slots.append(fresh)
            self._trim()
            best = fresh
        self._slots.remove(best)
        self._slots.append(best)  # most recently used last
        return best, keep

    @torch.inference_mode()
    def _forward(
        self, window: str, chars: list[int], parents: list[int], depths: list[int]
    ) -> tuple[CharKV, torch.Tensor, torch.Tensor]:
        """One forward: the window's characters not yet cached (causal), then the candidate trie's
        nodes (each sees the window, its ancestors and itself). Returns the window's cache, the
        next-character log-probabilities after the window [V] and after each node [N, V]."""
        n = len(chars)
        slot, keep = self._slot_for(window, n + 1)
        if slot.text == window and slot.last is not None and keep == len(window):
            new = ""  # the window is cached with its last logits: only the tree runs
        else:
            keep = min(keep, len(window) - 1)  # at least the last character, for its logits
            new = window[keep:]
        p = len(new)
        if p + n == 0:
            assert slot.last is not None
            return slot, slot.last, torch.zeros(0, len(VOCAB), dtype=torch.float64)
        sees = torch.zeros(p + n, keep + p + n, dtype=torch.bool)  # [P+N, K+P+N]: who each new row sees
        sees[:, :keep] = True
        sees[:p, keep : keep + p] = torch.ones(p, p, dtype=torch.bool).tril()  # the window's new characters: causal
        sees[p:, keep : keep + p] = True
        tree = keep + p  # the trie's first column
        for i, parent in enumerate(parents):
            if parent >= 0:
                sees[p + i, tree : tree + n] = sees[p + parent, tree : tree + n]
            sees[p + i, tree + i] = True
        positions = torch.cat([torch.arange(keep, keep + p), tree + torch.tensor(depths, dtype=torch.long)])
        idx = torch.tensor([encode_chars(new) + chars])  # [1, P+N]
        logits = self.model(idx, slot, keep, positions=positions, mask=sees)[0]  # [P+N, V]
        self.forwards += 1
        lp = torch.log_softmax(logits.double(), dim=-1)
        slot.text = window  # rows past it (the trie's) are scratch
        if p:
            slot.last = lp[p - 1].clone()
        assert slot.last is not None
        return slot, slot.last, lp[p:]

    def move_logprobs(self, game: GameText, moves: Sequence[chess.Move]) -> np.ndarray:
        """log p(m) for each of ``moves`` (legal in ``game.board``), in one forward over the cache."""
        window = game.text[window_start(game.text, self.model.cfg.block_size) :]
        head = move_prefix(game.board, game.text)
        strings = [head + game.board.san(m) for m in moves]
        chars: list[int] = []  # the trie's nodes in creation order: their character,
        parents: list[int] = []  # their parent node (-1: the prefix's last character),
        depths: list[int] = []  # and their depth (0: the first character after the prefix)
        children: dict[tuple[int, int], int] = {}
        ends = []
        for s in strings:
            node = -1
            for c in encode_chars(s):
                key = (node, c)
                if key not in children:
                    children[key] = len(chars)
                    chars.append(c)
                    parents.append(node)
                    depths.append(0 if node < 0 else depths[node] + 1)
                node = children[key]
            ends.append(node)
        _, last, lp = self._forward(window, chars, parents, depths)  # [V], [N, V]
        n = len(chars)
        # each node's own character under its parent's (or the prefix's) next-character distribution
        own = torch.tensor([(last if p < 0 else lp[p])[c] for c, p in zip(chars, parents, strict=True)])
        path_sum = torch.zeros(n, dtype=torch.float64)
        for i, p in enumerate(parents):  # parents come before children
            path_sum[i] = own[i] + (path_sum[p] if p >= 0 else 0.0)
        end = torch.logsumexp(lp[:, list(_END)], dim=-1)  # [N]: the move is over here
        return np.array([float(path_sum[e] + end[e]) for e in ends])

    def evaluate(self, sequences: Sequence[TokenSequence]) -> list[Evaluation]:
        out = []
        for seq in sequences:
            game = self.game_text(seq)
            moves = list(game.board.legal_moves)
            policy = np.full(N_MOVES, UNREACHABLE, dtype=np.float32)
            if moves:
                lps = self.move_logprobs(game, moves)
                for m, lp in zip(moves, lps, strict=True):
                    policy[move_id(game.board, m)] = lp
            out.append(Evaluation(policy_logits=policy, wdl_logits=np.zeros(3, dtype=np.float32)))
        return out

    # ---- the paper's own sampler
    @torch.inference_mode()
    def sample_text(self, game: GameText, temperature: float, rng: np.random.Generator, max_chars: int = 10) -> str:
        """Up to ``max_chars`` characters after the game's prompt, drawn one at a time at ``temperature``
        (the paper harness's generate; its top_k of 200 keeps all 32 characters)."""
        prompt = game.text + (move_prefix(game.board, game.text) if game.board.turn == chess.WHITE else "")
        window = prompt[window_start(prompt, self.model.cfg.block_size) :]
        cache, lp, _ = self._forward(window, [], [], [])
        out = []
        for i in range(max_chars):
            logits = lp.numpy()
            if temperature == 0:
                c = int(np.argmax(logits))
            else:
                z = logits / temperature
                p = np.exp(z - z.max())
                c = int(rng.choice(len(p), p=p / p.sum()))
            out.append(c)
            if i + 1 == max_chars or len(window) + i + 1 >= self.model.cfg.block_size:
                break
            with torch.inference_mode():  # into the rows past the window: scratch, the window stays cached
                step = self.model(torch.tensor([[c]]), cache, len(window) + i)
            lp = torch.log_softmax(step[0, -1].double(), dim=-1)
        return "".join(VOCAB[c] for c in out)


def paper_move(response: str, board: chess.Board) -> chess.Move | None:
    """The move a sampled response names, by the paper harness's cut rules: up to the first ``;``,
    through the first ``+``, then its first word as SAN. None if that is no legal move."""
    text = response.split(GAME_SEPARATOR)[0]
    if "+" in text:
        text = text[: text.index("+") + 1]
    words = text.split()
    if not words:
        return None
    try:
        return board.parse_san(words[0])
    except ValueError:
        return None
