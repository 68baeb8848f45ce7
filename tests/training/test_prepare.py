"""The data pipeline on small synthetic PGNs: formats, filters, bad input, resume."""

from __future__ import annotations

import bz2
import gzip
import json
import random
from pathlib import Path

import chess
import numpy as np
import pytest
import zstandard

from chessformer.engine.pgn import IllegalMove, movetext_tokens, resolve_san
from chessformer.engine.tokenizer import MOVE_TO_ID, board_features, move_id
from chessformer.training.filters import FilterConfig, time_control_class
from chessformer.training.prepare import PrepareConfig, prepare
from chessformer.training.shards import list_shards, load_shard
from tests.pgn_factory import game_text, make_pgn, random_game_san


def _write(path: Path, text: str) -> Path:
    data = text.encode("utf-8")
    if path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    elif path.name.endswith(".bz2"):
        data = bz2.compress(data)
    elif path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def test_time_control_classes() -> None:
    assert time_control_class("15+0") == "ultrabullet"
    assert time_control_class("60+0") == "bullet"
    assert time_control_class("180+0") == "blitz"
    assert time_control_class("600+5") == "rapid"
    assert time_control_class("1800+20") == "classical"
    assert time_control_class("-") == "correspondence"
    assert time_control_class(None) == "unknown"


def test_movetext_with_comments_variations_nags() -> None:
    sans, result = movetext_tokens("1. e4 {[%clk 0:03:00]} 1... e5 $1 (1... c5 2. Nf3 (2. c3)) 2. Nf3!? Nc6 1-0")
    assert sans == ["e4", "e5", "Nf3", "Nc6"] and result == "1-0"


def test_fast_san_agrees_with_python_chess() -> None:
    rng = random.Random(3)
    probes = ["e4", "Nf3", "exd5", "Ke2", "Qh5", "O-O", "Bb5", "a8=Q", "Rxa1", "d5", "Nbd2", "exd6", "h1=N", "Kxf7"]
    for _ in range(150):
        b = chess.Board()
        for _ in range(100):
            legal = list(b.legal_moves)
            if not legal:
                break
            m = rng.choice(legal)
            assert resolve_san(b, b.san(m)) == m
            cand = rng.choice(probes)
            try:
                ref = b.parse_san(cand)
            except ValueError:
                ref = None
            try:
                got = resolve_san(b, cand)
                after = b.copy()
                after.push(got)
                got = None if after.was_into_check() else got
            except IllegalMove:
                got = None
            assert got == ref, (b.fen(), cand)
            b.push(m)


@pytest.mark.parametrize("suffix", [".pgn", ".pgn.zst", ".pgn.bz2", ".pgn.gz"])
def test_prepare_formats_and_tokens(tmp_path: Path, suffix: str) -> None:
    rng = random.Random(1)
    text = make_pgn(rng, 30)
    src = _write(tmp_path / f"games{suffix}", text)
    m = prepare([src], tmp_path / "out", PrepareConfig(workers=1), progress=False)
    assert m["games"] == 30 and m["raw_games"] == 30
    sh = load_shard(tmp_path / "out", list_shards(tmp_path / "out")[0])
    # the first game's tokens equal a replay of its SAN
    first = text.split("\n\n")[1]
    sans, _ = movetext_tokens(first)
    b = chess.Board()
    ids = []
    for san in sans:
        mv = b.parse_san(san)
        ids.append(MOVE_TO_ID[mv.uci()] if not b.is_castling(mv) else None)
        b.push(mv)
    g = sh.games[0]
    got = list(sh.tokens[g["offset"] : g["offset"] + g["length"]])
    assert [x for x, y in zip(got, ids, strict=True) if y is not None] == [y for y in ids if y is not None]
    assert m["tokens"] == int(sh.games["length"].sum())
    assert m["sources"][0]["sha256"] and m["tokenizer_version"] == 1


def test_filters_and_bad_input_are_counted(tmp_path: Path) -> None:
    rng = random.Random(2)
    games: list[str] = []
    mt, _ = random_game_san(rng, 20)

    def add(headers: dict[str, str], movetext: str = mt, result: str = "1-0") -> None:
        base = {
            "Event": "Rated Blitz game",
            "Site": f"https://lichess.org/g{len(games)}",
            "White": "a",
            "Black": "b",
            "WhiteElo": "900",
            "BlackElo": "950",
            "TimeControl": "300+0",
        }
        base.update(headers)
        games.append(game_text(base, movetext, result))

    add({})  # kept
    add({"WhiteElo": "1600"})  # max_elo
    add({"BlackElo": "400"})  # min_elo
    add({"TimeControl": "60+0"})  # time_control (bullet)
    add({"Event": "Casual Blitz game"})  # unrated
    add({"Variant": "Chess960"})  # variant
    add({}, result="*")  # unfinished
    add({"WhiteTitle": "BOT"})  # bot
    add({}, movetext="1. e4 e5 2. Ke3 Nc6")  # illegal move
    add({}, movetext="1. e4")  # min_plies
    add({"Site": "https://lichess.org/g0"})  # duplicate of the first
    fen = "4k3/8/8/8/8/8/4P3/4K3 w - - 0 1"
    add({"SetUp": "1", "FEN": fen}, movetext="1. e4 Kd7 2. e5 Ke6")  # kept: a FEN start
    text = "".join(games)
    raw = (
        text.encode()
        + b'[Event "Rated Blitz game"]\n[White "\xff\xfe broken"]\n[Result "1-0"]\n\n1. e4 \xc3\x28 e5 1-0\n\n'
    )
    raw += b"[Bad header line\n\n1. e4 e5 *\n"
    src = tmp_path / "mixed.pgn"
    src.write_bytes(raw)
    cfg = PrepareConfig(
        filters=FilterConfig(max_elo=1500, min_elo=600, time_classes=("blitz", "rapid"), rated_only=True, min_plies=4),
        workers=1,
    )
    m = prepare([src], tmp_path / "out", cfg, progress=False)
    r = m["removed"]
    for reason in (
        "max_elo",
        "min_elo",
        "time_control",
        "unrated",
        "variant",
        "unfinished",
        "bot",
        "illegal_move",
        "min_plies",
        "duplicate",
    ):
        assert r.get(reason, 0) >= 1, (reason, r)
    assert m["games"] == 2, m
    sh = load_shard(tmp_path / "out", list_shards(tmp_path / "out")[0])
    fen_row = int(sh.games[1]["fen_anchor"])
    assert fen_row >= 0 and tuple(sh.anchors[fen_row]["features"]) == board_features(chess.Board(fen))
    assert m["raw_games"] == len(games) + 2


def test_truncated_zst_is_counted_not_fatal(tmp_path: Path) -> None:
    rng = random.Random(4)
    # > 128 KiB of text: several zstd blocks, so the blocks before the cut decode
    data = zstandard.ZstdCompressor().compress(make_pgn(rng, 1500).encode())
    src = tmp_path / "cut.pgn.zst"
    src.write_bytes(data[: len(data) * 3 // 4])
    m = prepare([src], tmp_path / "out", PrepareConfig(workers=1), progress=False)
    assert m["read_errors"] and 0 < m["games"] < 1500
    assert m["removed"].get("truncated", 0) <= 1  # at most the one game cut in half


def test_interrupted_prepare_resumes_without_duplicates(tmp_path: Path) -> None:
    rng = random.Random(5)
    src = _write(tmp_path / "g.pgn.zst", make_pgn(rng, 120))
    out = tmp_path / "out"
    cfg = PrepareConfig(workers=2, shard_games=50, chunk_games=20)
    full = prepare([src], out, cfg, progress=False)
    assert len(full["shards"]) == 3
    # simulate a kill during the last shard: its JSON (completion marker) is missing
    last = full["shards"][-1]
    (out / f"{last}.json").unlink()
    (out / f"{last}.tokens.u16").write_bytes(b"partial")
    again = prepare([src], out, cfg, progress=False)
    assert again["games"] == full["games"] == 120
    assert again["tokens"] == full["tokens"]
    assert again.get("removed", {}).get("duplicate", 0) == 0
    tokens = np.concatenate([load_shard(out, n).tokens for n in again["shards"]])
    assert tokens.size == full["tokens"]
    assert json.loads((out / "manifest.json").read_text())["games"] == 120


def test_folder_input_and_errors(tmp_path: Path) -> None:
    rng = random.Random(6)
    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "a.pgn", make_pgn(rng, 5))
    _write(tmp_path / "in" / "b.pgn.gz", make_pgn(rng, 5))
    (tmp_path / "in" / "notes.txt").write_text("ignored")
    m = prepare([tmp_path / "in"], tmp_path / "out", PrepareConfig(workers=1), progress=False)
    assert m["games"] == 10 and len(m["sources"]) == 2
    with pytest.raises(FileNotFoundError):
        prepare([tmp_path / "missing"], tmp_path / "o2", PrepareConfig(workers=1), progress=False)


CASTLE_FEN = "r3k2r/pppq1ppp/2np1n2/4p3/4P3/2NP1N2/PPPQ1PPP/R3K2R w KQkq - 0 1"


def _special_games() -> str:
    """Promotions, castling both ways, en passant and a FEN start with castling rights; then
    one game with an illegal castling."""
    text = game_text(
        {"White": "p", "Black": "q", "Site": "promo"},
        "1. h4 g5 2. hxg5 h6 3. gxh6 Bg7 4. hxg7 Nf6 5. gxh8=N Ng8 6. d4 e5 1-0",
        "1-0",
    )
    text += game_text(
        {"White": "c", "Black": "d", "Site": "castle", "SetUp": "1", "FEN": CASTLE_FEN},
        "1. O-O O-O-O 2. a4 d5 3. a5 b5 4. axb6 dxe4 1-0",
        "1-0",
    )
    return text + game_text({"White": "e", "Black": "f", "Site": "bad-castle"}, "1. O-O e5 1-0", "1-0")


def test_fast_replay_matches_python_chess(tmp_path: Path) -> None:
    from chessformer.training import fast_replay

    if not fast_replay.AVAILABLE:
        pytest.skip("fastchess (the fast extra) is not installed")
    rng = random.Random(9)
    text = make_pgn(rng, 200) + _special_games()
    src = tmp_path / "g.pgn"
    src.write_text(text)
    slow = prepare(
        [src], tmp_path / "slow", PrepareConfig(workers=1, replay="python-chess", anchor_every=4), progress=False
    )
    fast = prepare(
        [src], tmp_path / "fast", PrepareConfig(workers=1, replay="fastchess", anchor_every=4), progress=False
    )
    assert slow["replay"] == "python-chess" and fast["replay"] == "fastchess"
    assert slow["games"] == fast["games"] == 202 and fast["removed"]["illegal_move"] == 1
    a = load_shard(tmp_path / "slow", list_shards(tmp_path / "slow")[0])
    b = load_shard(tmp_path / "fast", list_shards(tmp_path / "fast")[0])
    assert np.array_equal(np.asarray(a.tokens), np.asarray(b.tokens))
    assert np.array_equal(a.games, b.games) and np.array_equal(a.anchors, b.anchors)
    # legal move lists agree with python-chess along random games
    import fastchess

    for _ in range(40):
        board = chess.Board()
        for _ in range(100):
            legal = list(board.legal_moves)
            if not legal:
                break
            assert sorted(fastchess.Board(board.fen()).legal_moves_uci()) == sorted(m.uci() for m in legal)
            board.push(rng.choice(legal))


def test_prepare_called_from_a_stdin_script_does_not_hang(tmp_path: Path) -> None:
    """Spawned workers cannot re-load a __main__ read from stdin; multiprocessing.Pool then
    restarted them forever. prepare falls back to one worker and says so."""
    import subprocess
    import sys

    pgn = _write(tmp_path / "g.pgn", make_pgn(random.Random(4), 30))
    script = (
        "from pathlib import Path\n"
        "from chessformer.training.prepare import PrepareConfig, prepare\n"
        f"m = prepare([Path({str(pgn)!r})], Path({str(tmp_path / 'out')!r}), PrepareConfig(workers=2), progress=False)\n"
        "print(m['games'])\n"
    )
    r = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "30" and "using 1 worker" in r.stderr


@pytest.mark.parametrize("replay", ["python-chess", "fastchess"])
def test_legal_move_lists(tmp_path: Path, replay: str) -> None:
    """prepare --legal-moves stores each ply's legal moves, as python-chess lists them."""
    from chessformer.training import fast_replay
    from chessformer.training.data import GameIndex

    if replay == "fastchess" and not fast_replay.AVAILABLE:
        pytest.skip("fastchess (the fast extra) is not installed")
    src = tmp_path / "g.pgn"
    src.write_text(make_pgn(random.Random(3), 30) + _special_games())
    out = tmp_path / "data"
    cfg = PrepareConfig(workers=1, replay=replay, anchor_every=1, legal_moves=True)
    assert prepare([src], out, cfg, progress=False)["legal_moves"] is True
    sh = load_shard(out, list_shards(out)[0])
    assert sh.legal is not None and sh.legal_offsets is not None and len(sh.legal_offsets) == len(sh.tokens) + 1
    plies = 0
    for g in sh.games:
        board = chess.Board(CASTLE_FEN) if g["fen_anchor"] >= 0 else chess.Board()
        for i in range(int(g["offset"]), int(g["offset"] + g["length"])):
            by_id = {move_id(board, m): m for m in board.legal_moves}
            stored = sh.legal[sh.legal_offsets[i] : sh.legal_offsets[i + 1]]
            assert list(stored) == sorted(by_id)
            board.push(by_id[int(sh.tokens[i])])  # the played move is among them
            plies += 1
    assert plies == len(sh.tokens) > 500
    # a resumed run must not mix shards with and without legal lists
    with pytest.raises(ValueError, match="legal_moves=True"):
        prepare([src], out, PrepareConfig(workers=1, replay=replay, anchor_every=1), progress=False)
    plain = tmp_path / "plain"
    prepare([src], plain, PrepareConfig(workers=1, replay=replay, anchor_every=1), progress=False)
    with pytest.raises(ValueError, match="no legal move lists"):
        GameIndex(plain, legal=True)
