"""The UCI protocol, scripted line by line against a tiny random-init model."""

from __future__ import annotations

import time
from pathlib import Path

import chess
import pytest

from tests.engine.uci_script import Session

INFO = r"^info depth 1 seldepth 1 multipv (\d+) score (cp -?\d+|mate -?\d+)( wdl \d+ \d+ \d+)? nodes \d+ nps \d+ time \d+ pv (\S+)( \S+)?$"


@pytest.fixture
def s(tiny_weights: Path) -> Session:
    sess = Session()
    sess.send(f"setoption name WeightsFile value {tiny_weights}")
    return sess


def test_uci_handshake_lists_options_before_torch() -> None:
    sess = Session()
    sess.send("uci")
    lines = sess.unread()
    assert lines[0].startswith("id name ChessFormer")
    assert lines[-1] == "uciok"
    names = {line.split(" type ")[0][len("option name ") :] for line in lines if line.startswith("option")}
    for required in (
        "Temperature",
        "Seed",
        "WeightsFile",
        "MultiPV",
        "Threads",
        "Ponder",
        "UCI_ShowWDL",
        "UCI_Chess960",
        "Hash",
        "Move Overhead",
        "SyzygyPath",
        "Backend",
    ):
        assert required in names
    assert "option name Temperature type string default 0.1" in lines


def test_no_bundled_model_reports_and_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    import chessformer.engine.weights

    monkeypatch.setattr(chessformer.engine.weights, "bundled_weights_path", lambda: None)
    sess = Session()
    sess.send("isready")
    assert "cannot load model" in sess.expect("^info string")
    sess.expect("^readyok$")
    sess.send("go")
    assert "cannot play without a model" in sess.expect("^info string")
    assert sess.expect("^bestmove") == "bestmove 0000"


def test_bad_weights_file_is_refused_and_the_model_stays(tmp_path: Path, tiny_weights: Path) -> None:
    sess = Session()
    sess.send(f"setoption name WeightsFile value {tiny_weights}")
    sess.send("isready")
    sess.expect("^readyok$")
    loaded = sess.engine.loaded
    corrupted = tmp_path / "c.safetensors"
    corrupted.write_bytes(b"\0" * 64)
    (tmp_path / "c.json").write_text(tiny_weights.with_suffix(".json").read_text())
    (tmp_path / "d.safetensors").mkdir()
    for bad, why in [
        (tmp_path / "missing.safetensors", "not found"),
        (corrupted, "sha256 mismatch"),
        (tmp_path / "d.safetensors", "not found"),
        (tiny_weights.with_suffix(".json"), "must end in .safetensors"),
    ]:
        sess.send(f"setoption name WeightsFile value {bad}")
        line = sess.expect("^info string WeightsFile")
        assert why in line and line.endswith("unchanged"), line
        assert sess.engine.options["WeightsFile"] == str(tiny_weights)
        sess.send("isready")
        sess.expect("^readyok$")
        sess.send("go")
        assert sess.expect("^bestmove") != "bestmove 0000"
        assert sess.engine.loaded is loaded  # the same model object: nothing was reloaded


def test_a_failed_backend_load_keeps_the_model(tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import chessformer.engine.loader
    from chessformer.engine.weights import WeightsError

    sess = Session()
    sess.send(f"setoption name WeightsFile value {tiny_weights}")
    sess.send("isready")
    sess.expect("^readyok$")
    loaded = sess.engine.loaded

    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise WeightsError("backend tensorrt unavailable: no GPU")

    monkeypatch.setattr(chessformer.engine.loader, "make_backend", fail)
    sess.send("setoption name Backend value tensorrt")
    sess.send("isready")
    assert "still playing with tiny.safetensors" in sess.expect("^info string cannot load")
    sess.expect("^readyok$")
    assert sess.engine.loaded is loaded and sess.engine.options["Backend"] == "auto"
    sess.send("go")
    assert sess.expect("^bestmove") != "bestmove 0000"


def test_go_reports_info_and_bestmove_with_ponder(s: Session) -> None:
    s.send("setoption name UCI_ShowWDL value true")
    s.send("isready")
    assert "random-init" in s.expect("^info string warning")
    s.expect("^readyok$")
    s.send("position startpos moves e2e4 e7e5")
    s.send("go wtime 60000 btime 60000 winc 1000 binc 1000 movestogo 40")
    import re

    info = s.expect("^info depth")
    m = re.match(INFO, info)
    assert m and m.group(3), info
    best = s.expect("^bestmove")
    parts = best.split()
    assert parts[1] == m.group(4)
    assert len(parts) == 4 and parts[2] == "ponder" and parts[3] == m.group(5).strip()
    b = chess.Board()
    b.push_uci("e2e4")
    b.push_uci("e7e5")
    assert chess.Move.from_uci(parts[1]) in b.legal_moves


def test_multipv_lines_first_is_bestmove(s: Session) -> None:
    s.send("setoption name multipv value 3")  # names are case-insensitive
    s.send("position startpos")
    s.send("go movetime 50")
    lines = [s.expect("^info depth") for _ in range(3)]
    best = s.expect("^bestmove").split()[1]
    assert [line.split(" multipv ")[1].split()[0] for line in lines] == ["1", "2", "3"]
    assert lines[0].split(" pv ")[1].split()[0] == best
    assert len({line.split(" pv ")[1].split()[0] for line in lines}) == 3


def test_go_infinite_holds_until_stop_and_isready_answers(s: Session) -> None:
    s.send("isready")
    s.expect("^readyok$")
    s.send("go infinite")
    s.expect("^info depth")
    time.sleep(0.2)
    assert s.count("bestmove") == 0
    s.send("isready")
    s.expect("^readyok$")
    s.send("stop")
    s.expect("^bestmove")
    assert s.count("bestmove") == 1


def test_go_ponder_then_ponderhit(s: Session) -> None:
    s.send("position startpos moves e2e4 e7e5")
    s.send("go ponder wtime 1000 btime 1000")
    time.sleep(0.2)
    assert s.count("bestmove") == 0
    s.send("ponderhit")
    s.expect("^bestmove")
    s.send("go ponder")
    s.send("stop")
    s.expect("^bestmove")
    assert s.count("bestmove") == 2


def test_searchmoves_restricts_choice(s: Session) -> None:
    s.send("position startpos")
    for _ in range(5):
        s.send("go searchmoves a2a3 h2h4 depth 3")
        assert s.expect("^bestmove").split()[1] in ("a2a3", "h2h4")


def test_fen_position_and_bad_inputs(s: Session) -> None:
    s.send("position fen 4k3/8/8/8/8/8/4P3/4K3 w - - 0 1 moves e2e4 e8d7")
    s.send("go")
    best = s.expect("^bestmove").split()[1]
    b = chess.Board("4k3/8/8/8/8/8/4P3/4K3 w - - 0 1")
    b.push_uci("e2e4")
    b.push_uci("e8d7")
    assert chess.Move.from_uci(best) in b.legal_moves
    s.send("position fen not/a/fen w - - 0 1")
    assert "bad FEN" in s.expect("^info string")
    s.send("position fen 8/8/8/8/8/8/8/8 w - - 0 1")
    assert "invalid position" in s.expect("^info string")
    s.send("position startpos moves e2e4 e2e4")
    assert "illegal move" in s.expect("^info string")
    s.send("go")
    # set up to the move before the illegal one: black to move after e2e4
    best = s.expect("^bestmove").split()[1]
    b = chess.Board()
    b.push_uci("e2e4")
    assert chess.Move.from_uci(best) in b.legal_moves
    s.send("setoption name Temperature value hot")
    hot = s.expect("^info string")
    s.send("setoption name Temperature value -1")
    minus = s.expect("^info string")
    assert "must be a number between 0 and 100" in hot and "must be a number between 0 and 100" in minus
    assert s.engine.options.temperature == 0.1
    s.send("setoption name MultiPV value 99999")
    s.expect("^info string")
    s.send("setoption name NoSuchOption value 1")
    assert "unknown option" in s.expect("^info string")


def test_checkmated_and_stalemated_positions(s: Session) -> None:
    s.send("position fen rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3")
    s.send("go")
    assert s.expect("^info depth") == "info depth 0 score mate 0"
    assert s.expect("^bestmove") == "bestmove 0000"
    s.send("position fen 7k/5Q2/6K1/8/8/8/8/8 b - - 0 1")
    s.send("go")
    assert s.expect("^info depth") == "info depth 0 score cp 0"
    assert s.expect("^bestmove") == "bestmove 0000"


def test_mate_in_one_is_scored_as_mate(s: Session) -> None:
    s.send("setoption name MultiPV value 256")
    s.send("position fen 6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1")
    s.send("go")
    s.expect("^bestmove")
    assert any(" score mate 1 " in line and " pv a1a8" in line for line in s.lines)


def test_seed_makes_games_reproducible(s: Session) -> None:
    def play() -> list[str]:
        s.send("ucinewgame")
        moves: list[str] = []
        for _ in range(6):
            s.send("position startpos moves " + " ".join(moves))
            s.send("go")
            moves.append(s.expect("^bestmove").split()[1])
        return moves

    s.send("setoption name Temperature value 1.0")
    s.send("setoption name Seed value 42")
    first = play()
    assert play() == first
    s.send("setoption name Seed value 43")
    assert play() != first or play() != first


def test_chess960_castling_notation(s: Session) -> None:
    s.send("setoption name UCI_Chess960 value true")
    s.send("setoption name Temperature value 0")
    s.send("setoption name MultiPV value 256")
    s.send("position fen 4k3/8/8/8/8/8/8/R3K2R w KQ - 0 1")
    s.send("go")
    s.expect("^bestmove")
    pvs = {line.split(" pv ")[1].split()[0] for line in s.lines if " pv " in line}
    assert "e1h1" in pvs and "e1a1" in pvs


def test_quit_and_unknown_commands(s: Session) -> None:
    assert s.send("xyzzy foo") is True
    assert s.send("") is True
    assert s.send("quit") is False


def test_draw_avoidance_option_reaches_the_player(s: Session) -> None:
    import chess

    from chessformer.engine.tokenizer import move_id
    from tests.engine.test_player import _FixedBackend

    s.send("isready")
    s.expect("^readyok")
    board = chess.Board("7k/8/6K1/8/8/8/8/5Q2 w - - 0 1")  # f1f7 stalemates, f1f8 mates
    prefs = {move_id(board, chess.Move.from_uci("f1f7")): 9.0, move_id(board, chess.Move.from_uci("f1f8")): 5.0}
    assert s.engine.loaded is not None
    s.engine.loaded.player.backend = _FixedBackend(prefs, (0.9, 0.05, 0.05))  # type: ignore[assignment]
    s.send(f"position fen {board.fen()}")
    s.send("setoption name Temperature value 0")
    s.send("go depth 1")
    assert s.expect("^bestmove").split()[1] == "f1f8"  # on by default: the stalemate is left out
    s.send("setoption name DrawAvoidance value false")
    s.send("go depth 1")
    assert s.expect("^bestmove").split()[1] == "f1f8"  # MateInOne (on by default) still takes the mate
    s.send("setoption name MateInOne value false")
    s.send("go depth 1")
    assert s.expect("^bestmove").split()[1] == "f1f8"  # MaterialGuard (on by default) counts the mate too
    s.send("setoption name MaterialGuard value false")
    s.send("go depth 1")
    assert s.expect("^bestmove").split()[1] == "f1f7"  # all three off: the paper's plain sampling
    s.send("setoption name DrawAvoidance value maybe")
    assert "DrawAvoidance must be true or false" in s.expect("^info string")


def test_every_declared_side_effect_is_an_engine_method() -> None:
    from chessformer.engine.options import OPTIONS
    from chessformer.engine.uci import UciEngine

    effects = {o.name: o.on_change for o in OPTIONS if o.on_change}
    assert {"WeightsFile", "Backend", "Seed", "Hash", "Threads"} <= set(effects)
    for name, method in effects.items():
        assert callable(getattr(UciEngine, method, None)), (name, method)


def test_backend_choices_come_from_the_registry(tiny_model) -> None:  # type: ignore[no-untyped-def]
    import copy

    import torch

    from chessformer.engine.backends.registry import BACKENDS
    from chessformer.engine.loader import make_backend
    from chessformer.engine.options import find_option
    from chessformer.engine.weights import WeightsError

    spec = find_option("Backend")
    assert spec is not None and spec.choices == tuple(b.name for b in BACKENDS)
    assert all(f"{b.name}: {b.summary}" in spec.help for b in BACKENDS)
    for b in BACKENDS:
        if b.name in ("cuda-graph", "tensorrt") and not torch.cuda.is_available():
            if b.name == "tensorrt":
                with pytest.raises(WeightsError, match="tensorrt unavailable"):
                    make_backend(b.name, copy.deepcopy(tiny_model), "sha", 16)
            continue
        assert make_backend(b.name, copy.deepcopy(tiny_model), "sha", 16).evaluate is not None
    with pytest.raises(WeightsError, match="unknown backend"):
        make_backend("nope", tiny_model, "sha", 16)
