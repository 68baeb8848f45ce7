"""The UCI engine loop.

stdout carries only UCI, one flushed line at a time; logs go to stderr. ``uci`` is
answered before torch is imported; the model loads at the first ``isready`` or ``go``.
A ``go`` is answered by a worker thread, so ``isready``, ``stop`` and ``ponderhit`` are
handled while it thinks; ``go infinite`` and ``go ponder`` hold their bestmove until
``stop`` or ``ponderhit``. Every ``go`` gets exactly one ``bestmove``.

Nothing a GUI sends can crash the loop: bad commands, values, FENs and moves are
reported as ``info string`` and ignored.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

import chess

from chessformer.engine import __version__
from chessformer.engine.go_params import GoParams, parse_go
from chessformer.engine.options import OPTIONS, OptionError, OptionSpec, OptionValues

if TYPE_CHECKING:  # imported lazily: they pull in numpy and torch
    import numpy as np

    from chessformer.engine.loader import LoadedModel

log = logging.getLogger("chessformer")

ENGINE_NAME = f"ChessFormer {__version__}"
ENGINE_AUTHOR = "the chessformer developers"
MAX_LINE_BYTES = 1 << 20  # longer input lines are discarded whole


class UciEngine:
    """One UCI session. Feed it lines with ``handle``; it writes replies through ``write``."""

    def __init__(self, write: Callable[[str], None] | None = None, options: tuple[OptionSpec, ...] = OPTIONS) -> None:
        self._write = write or _stdout_writer()
        self._out_lock = threading.Lock()
        self.options = OptionValues(options)
        self.board = chess.Board()
        self.loaded: LoadedModel | None = None
        self.load_error: str | None = None
        self._model_stale = True  # WeightsFile/Backend changed since the last load attempt
        self._strength_note = ""  # the last UCI_LimitStrength setting said in an info string
        self._loaded_weights, self._loaded_backend = self.options["WeightsFile"], self.options["Backend"]  # of `loaded`
        self._rng: np.random.Generator | None = None
        self._search: threading.Thread | None = None
        self._release = threading.Event()  # stop/ponderhit: let a held bestmove go
        self._computed = threading.Event()  # the running search no longer reads engine state
        self._computed.set()

    # ----------------------------------------------------------------- output
    def send(self, line: str) -> None:
        with self._out_lock:
            self._write(line)

    def info_string(self, text: str) -> None:
        self.send("info string " + " ".join(text.split()))

    # ----------------------------------------------------------------- input
    def handle(self, line: str) -> bool:
        """Process one input line; False once the engine should exit."""
        parts = line.strip().split()
        if not parts:
            return True
        cmd, args = parts[0].lower(), parts[1:]
        try:
            if cmd == "quit":
                self._finish_search(release=True)
                return False
            handler = self._handlers.get(cmd)
            if handler is not None:
                handler(self, args)
            else:
                log.debug("ignored unknown command %r", line[:80])
        except Exception as e:  # a bug must not take the engine down in the middle of a game
            log.exception("error handling %r", line[:200])
            self.info_string(f"error: {type(e).__name__}: {e}")
        return True

    def run(self, stream: BinaryIO) -> None:
        """Read commands until ``quit`` or end of input."""
        while True:
            raw = stream.readline(MAX_LINE_BYTES)
            if not raw:
                break
            if not raw.endswith(b"\n") and len(raw) >= MAX_LINE_BYTES:
                while raw and not raw.endswith(b"\n"):  # discard the rest of an over-long line
                    raw = stream.readline(MAX_LINE_BYTES)
                self.info_string(f"input line longer than {MAX_LINE_BYTES} bytes ignored")
                continue
            if not self.handle(raw.decode("utf-8", errors="replace")):
                return
        self._finish_search(release=True)

    # ----------------------------------------------------------------- commands
    def _cmd_uci(self, args: list[str]) -> None:
        self.send(f"id name {ENGINE_NAME}")
        self.send(f"id author {ENGINE_AUTHOR}")
        for spec in self.options.specs:
            self.send(spec.declaration())
        self.send("uciok")

    def _cmd_isready(self, args: list[str]) -> None:
        self._ensure_loaded()
        self.send("readyok")

    def _cmd_debug(self, args: list[str]) -> None:
        log.setLevel(logging.DEBUG if args[:1] == ["on"] else logging.INFO)

    def _cmd_setoption(self, args: list[str]) -> None:
        self._computed.wait()
        low = [a.lower() for a in args]
        if not low or low[0] != "name":
            self.info_string("setoption needs: setoption name <id> [value <x>]")
            return
        vi = low.index("value") if "value" in low else len(args)
        name, raw = " ".join(args[1:vi]), " ".join(args[vi + 1 :])
        try:
            spec, value = self.options.set(name, raw)
        except OptionError as e:
            self.info_string(f"{e}; unchanged")
            return
        if spec.on_change:  # the option's declared side effect (engine/options.py)
            getattr(self, spec.on_change)(value)

    # ----------------------------------------------------------------- option side effects
    def on_model_change(self, value: object) -> None:
        """WeightsFile, Backend: load at the next isready or go."""
        self._model_stale = True

    def on_seed_change(self, value: object) -> None:
        self._rng = None  # reseeded at the next go

    def on_hash_change(self, value: object) -> None:
        if self.loaded is not None:
            self.loaded.player.backend.set_cache_limit(int(str(value)))

    def on_threads_change(self, value: object) -> None:
        if self.loaded is not None:
            from chessformer.engine.loader import set_threads

            set_threads(int(str(value)))

    def _cmd_ucinewgame(self, args: list[str]) -> None:
        self._computed.wait()
        self.board = chess.Board(chess960=bool(self.options["UCI_Chess960"]))
        self._rng = None  # reseeded from Seed (or fresh entropy) at the next go

    def _cmd_position(self, args: list[str]) -> None:
        self._computed.wait()
        chess960 = bool(self.options["UCI_Chess960"])
        low = [a.lower() for a in args]
        mi = low.index("moves") if "moves" in low else len(args)
        if low[:1] == ["startpos"]:
            board = chess.Board(chess960=chess960)
        elif low[:1] == ["fen"] and mi > 1:
            fen = " ".join(args[1:mi])
            try:
                board = chess.Board(fen, chess960=chess960)
            except ValueError as e:
                self.info_string(f"bad FEN {fen[:100]!r}: {e}; position unchanged")
                return
            status = board.status()
            if status != chess.STATUS_VALID and status & ~chess.STATUS_BAD_CASTLING_RIGHTS:
                self.info_string(f"invalid position {fen[:100]!r} ({_status_text(status)}); position unchanged")
                return
        else:
            self.info_string("position needs startpos or fen <FEN>; position unchanged")
            return
        for i, text in enumerate(args[mi + 1 :]):
            try:
                board.push(board.parse_uci(text))
            except ValueError as e:
                self.info_string(f"illegal move {text[:20]!r} at ply {i + 1}: {e}; position set up to the move before")
                break
        self.board = board

    def _cmd_go(self, args: list[str]) -> None:
        self._finish_search(release=True)  # a GUI that forgot stop still gets its bestmove first
        params = parse_go(args)
        for problem in params.problems:
            self.info_string(problem)
        self._ensure_loaded()
        self._release.clear()
        self._computed.clear()
        board = self.board.copy()
        self._search = threading.Thread(target=self._search_and_reply, args=(board, params), daemon=True)
        self._search.start()

    def _cmd_stop(self, args: list[str]) -> None:
        self._finish_search(release=True)

    def _cmd_ponderhit(self, args: list[str]) -> None:
        # The move was computed when pondering started; the normal search it turns into is instant.
        self._release.set()

    _handlers: dict[str, Callable[[UciEngine, list[str]], None]] = {
        "uci": _cmd_uci,
        "isready": _cmd_isready,
        "debug": _cmd_debug,
        "setoption": _cmd_setoption,
        "ucinewgame": _cmd_ucinewgame,
        "position": _cmd_position,
        "go": _cmd_go,
        "stop": _cmd_stop,
        "ponderhit": _cmd_ponderhit,
    }

    # ----------------------------------------------------------------- model
    def _ensure_loaded(self) -> None:
        if not self._model_stale:
            return
        self._model_stale = False
        previous = self.loaded  # kept if the new load fails: a bad value must not disable the engine
        self.loaded, self.load_error = None, None
        try:
            from chessformer.engine.loader import load_model
            from chessformer.engine.weights import WeightsError

            try:
                self.loaded = load_model(
                    str(self.options["WeightsFile"]),
                    str(self.options["Backend"]),
                    int(self.options["Threads"]),
                    int(self.options["Hash"]),
                )
            except WeightsError as e:
                self.load_error = str(e)
        except Exception as e:  # noqa: BLE001 - any failure to load is reported, not raised
            log.exception("model load failed")
            self.load_error = f"{type(e).__name__}: {e}"
        if self.load_error and previous is not None:
            self.info_string(f"cannot load model: {self.load_error}; still playing with {previous.info.path.name}")
            self.loaded, self.load_error = previous, None
            self.options.values["WeightsFile"] = self._loaded_weights
            self.options.values["Backend"] = self._loaded_backend
        elif self.load_error:
            self.info_string(f"cannot load model: {self.load_error}")
        elif self.loaded is not None:
            self._loaded_weights, self._loaded_backend = self.options["WeightsFile"], self.options["Backend"]
            meta = self.loaded.info.metadata
            desc = meta.get("description", "no description")
            self.info_string(
                f"model {self.loaded.info.path.name}: {self.loaded.parameters:,} parameters,"
                f" backend {self.loaded.backend_name}, {desc}"
            )
            if self.loaded.info.is_random_init:
                self.info_string("warning: these weights are random-init test weights, not a trained model")

    def _playing_strength(self) -> tuple[float, Any, bool]:
        """(temperature, ratings, calibrated) for the next move: the options', or with UCI_LimitStrength
        on the calibrated setting for UCI_Elo (engine/strength.py), said once per change in an info
        string. ``calibrated``: a table's setting, which was measured with the model's own moves (no
        MaterialGuard), so it is played that way."""
        if not self.options["UCI_LimitStrength"] or self.loaded is None:
            return self.options.temperature, self.options.ratings, False
        from chessformer.engine.strength import Calibration

        try:
            table = Calibration.from_metadata(self.loaded.info.metadata)
        except ValueError as e:
            table, why = None, str(e)
        else:
            why = "these weights carry no strength calibration (python -m chessformer.bench calibrate writes one)"
        requested = int(str(self.options["UCI_Elo"]))
        if table is None:
            note = f"UCI_LimitStrength: {why}; playing at Temperature and Rating"
            result: tuple[float, Any, bool] = (self.options.temperature, self.options.ratings, False)
        else:
            setting = table.setting_for(requested)
            note = setting.describe(requested)
            rated = (setting.scale, setting.rating or None)
            result = (setting.temperature, (rated, rated), True)
        if note != self._strength_note:
            self.info_string(note)
            log.info(note)  # also in the operator's log (a GUI may hide info strings)
            self._strength_note = note
        return result

    def _rng_for_game(self) -> np.random.Generator:
        import numpy as np

        if self._rng is None:
            seed = int(self.options["Seed"])
            self._rng = np.random.default_rng(seed if seed > 0 else None)
        return self._rng

    # ----------------------------------------------------------------- search
    def _finish_search(self, release: bool) -> None:
        t = self._search
        if t is None:
            return
        if release:
            self._release.set()
        t.join()
        self._search = None

    def _search_and_reply(self, board: chess.Board, params: GoParams) -> None:
        best: str = "0000"
        ponder: str | None = None
        try:
            best, ponder = self._think(board, params)
        except Exception as e:  # noqa: BLE001 - reported; the GUI still gets its bestmove
            log.exception("search failed")
            self.info_string(f"error while thinking: {type(e).__name__}: {e}")
        finally:
            self._computed.set()
        if params.holds_bestmove:
            self._release.wait()
        self.send(f"bestmove {best}" + (f" ponder {ponder}" if ponder else ""))

    def _think(self, board: chess.Board, params: GoParams) -> tuple[str, str | None]:
        """Choose a move; send info lines. Returns (bestmove, ponder move or None) as UCI text."""
        from chessformer.engine.player import wdl_permille, wdl_to_cp

        t0 = time.perf_counter()
        chess960 = board.chess960
        if not any(board.legal_moves):
            self.send("info depth 0 score " + ("mate 0" if board.is_checkmate() else "cp 0"))
            return "0000", None
        if self.loaded is None:
            self.info_string(f"cannot play without a model: {self.load_error or 'not loaded'}")
            return "0000", None
        player = self.loaded.player
        temperature, ratings, calibrated = self._playing_strength()
        player.ratings, player.own_colour = ratings, board.turn  # the engine plays the side to move
        allowed = self._searchmoves(board, params.searchmoves)
        ev = player.evaluate(
            board,
            allowed,
            avoid_draws=self.options.draw_avoidance,
            take_mates=self.options.mate_in_one,
            guard=self.options.material_guard and not calibrated,
        )
        chosen = player.pick(ev, temperature, self._rng_for_game())
        if self.options["PaperSampler"] and self.loaded.backend_name == "nanogpt":
            paper, responses = player.paper_sample(board, self.options.temperature, self._rng_for_game())
            if paper is None:
                self.info_string(
                    f"paper sampler: {len(responses)} samples named no legal move ({' | '.join(map(repr, responses))});"
                    " the paper counts a loss; playing the exact sampler's move"
                )
            elif paper in ev.moves:  # else outside searchmoves or the draw filter: the exact sampler's move
                chosen = paper
        k = min(int(self.options["MultiPV"]), len(ev.moves))
        lines = [chosen] + [m for m in ev.moves if m != chosen][: k - 1]
        afters = []
        for m in lines:
            b = board.copy()
            b.push(m)
            afters.append(b)
        live = [b for b in afters if any(b.legal_moves)]
        after_evals = iter(player.evaluate_many(live))
        elapsed_ms = max(1, int((time.perf_counter() - t0) * 1000))
        nodes = 1 + len(live)
        show_wdl = bool(self.options["UCI_ShowWDL"])
        ponder: str | None = None
        for i, (m, after) in enumerate(zip(lines, afters, strict=True), start=1):
            reply: chess.Move | None = None
            if after.is_checkmate():
                score, wdl = "mate 1", (1000, 0, 0)
            elif not any(after.legal_moves):
                score, wdl = "cp 0", (0, 1000, 0)
            else:
                aev = next(after_evals)
                ours = aev.wdl[::-1]  # the opponent's loss is our win
                score, wdl = f"cp {wdl_to_cp(ours)}", wdl_permille(ours)
                reply = aev.moves[0]
            pv = board.uci(m, chess960=chess960)
            if reply is not None:
                pv += " " + after.uci(reply, chess960=chess960)
            if i == 1 and reply is not None:
                ponder = after.uci(reply, chess960=chess960)
            wdl_text = f" wdl {wdl[0]} {wdl[1]} {wdl[2]}" if show_wdl else ""
            nps = nodes * 1000 // elapsed_ms
            self.send(
                f"info depth 1 seldepth 1 multipv {i} score {score}{wdl_text}"
                f" nodes {nodes} nps {nps} time {elapsed_ms} pv {pv}"
            )
        return board.uci(chosen, chess960=chess960), ponder

    def _searchmoves(self, board: chess.Board, texts: list[str]) -> list[chess.Move] | None:
        if not texts:
            return None
        allowed = []
        for text in texts:
            try:
                allowed.append(board.parse_uci(text))
            except ValueError:
                self.info_string(f"searchmoves: {text[:20]!r} is not legal here, ignored")
        if not allowed:
            self.info_string("searchmoves: no legal move given; choosing among all legal moves")
        return allowed or None


def _status_text(status: chess.Status) -> str:
    names = [n[len("STATUS_") :].lower() for n in dir(chess) if n.startswith("STATUS_") and n != "STATUS_VALID"]
    return ", ".join(n for n in names if status & getattr(chess, "STATUS_" + n.upper())) or "invalid"


def _stdout_writer() -> Callable[[str], None]:
    out = sys.stdout

    def write(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    return write


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``chessformer`` command: a UCI engine on stdin/stdout."""
    import argparse

    from chessformer.engine.options import BUNDLED, declare_options

    p = argparse.ArgumentParser(
        prog="chessformer", description="A UCI chess engine. Start it from a chess GUI, or type 'uci' and 'go'."
    )
    p.add_argument(
        "--weights",
        default=BUNDLED,
        metavar="FILE",
        help="the model to start with (WeightsFile's default; UCI_Elo declares this model's calibrated range)",
    )
    p.add_argument("-V", "--version", action="version", version=ENGINE_NAME)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.weights != BUNDLED:
        from chessformer.engine.weights import WeightsError, check_weights_without_torch, resolve_weights

        try:  # a bad file is refused before any UCI is spoken, with the reason (uci is still answered at once)
            check_weights_without_torch(resolve_weights(args.weights))
        except WeightsError as e:
            print(f"chessformer: --weights: {e}", file=sys.stderr)
            return 2
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="chessformer: %(message)s")
    engine = UciEngine(_stdout_writer(), declare_options(args.weights))
    sys.stdout = sys.stderr  # anything else that prints goes to stderr, never into the UCI stream
    with contextlib.suppress(KeyboardInterrupt):
        engine.run(sys.stdin.buffer)
    return 0
