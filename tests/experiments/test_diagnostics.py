"""The transcendence experiment's diagnostics: agreement, relabelling, mates, value heads."""

from __future__ import annotations

import json
import random
from pathlib import Path

import chess
import numpy as np
import pytest

from chessformer.training.filters import FilterConfig
from chessformer.training.prepare import PrepareConfig, prepare
from tests.engine.test_engine_subprocess import STOCKFISH
from tests.pgn_factory import game_text


def test_agreement_counts_the_models_mode_against_a_reference(tiny_weights, tmp_path: Path) -> None:
    from chessformer.engine.loader import load_model
    from experiments.transcendence.agreement import agreement, sample_positions
    from tests.pgn_factory import make_pgn

    pgn = tmp_path / "g.pgn"
    pgn.write_text(make_pgn(random.Random(2), 20))
    boards = sample_positions(pgn, 40, skip_plies=4)
    assert len(boards) == 40 and all(len(b.move_stack) >= 4 for b in boards)
    player = load_model(str(tiny_weights), "torch", 1, 64).player
    evs = [player.evaluate(b) for b in boards]
    mode = [e.moves[0] for e in evs]
    other = [e.moves[-1] for e in evs]  # the least likely legal move
    hit = agreement(str(tiny_weights), boards, mode)
    assert hit.top1 == 1.0 and hit.p_ref == pytest.approx(np.mean([e.probs[0] for e in evs]), rel=1e-3)
    assert hit.uniform == pytest.approx(np.mean([1 / len(e.moves) for e in evs]))
    miss = agreement(str(tiny_weights), boards, other)
    assert miss.top1 == pytest.approx(np.mean([len(e.moves) == 1 for e in evs])) and miss.p_ref < hit.p_ref
    with pytest.raises(ValueError, match="no positions"):
        sample_positions(pgn, 10, skip_plies=10_000)
    # habits: the model's mode against each habit's move, where the habit has one
    from experiments.transcendence.habits import habit_move

    with_habits = agreement(str(tiny_weights), boards, mode, ("pawn", "king"))
    for h in ("pawn", "king"):
        pairs = [(e.moves[0], habit_move(b, h)) for b, e in zip(boards, evs, strict=True)]
        seen = [(m, hm) for m, hm in pairs if hm is not None]
        assert with_habits.habit_positions[h] == len(seen)
        assert with_habits.habit_top1[h] == pytest.approx(sum(m == hm for m, hm in seen) / max(1, len(seen)))
    assert with_habits.habit_positions["pawn"] > 0
    with pytest.raises(ValueError, match="unknown habit"):
        agreement(str(tiny_weights), boards, mode, ("castle",))


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed")
def test_agreement_reference_is_stockfish_fixed_depth() -> None:
    from experiments.transcendence.agreement import reference_moves

    b = chess.Board("6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1")  # back-rank mate in one
    assert reference_moves([b], depth=1, command=STOCKFISH) == [chess.Move.from_uci("d1d8")]


def test_agreement_reference_can_be_the_greedy_rule(tiny_weights, tmp_path: Path) -> None:
    from experiments.transcendence.agreement import agreement, agreement_report, run_agreement, sample_positions
    from experiments.transcendence.greedy import greedy_move
    from tests.pgn_factory import make_pgn

    pgn = tmp_path / "g.pgn"
    pgn.write_text(make_pgn(random.Random(5), 20))
    rows = run_agreement([str(tiny_weights)], pgn, 30, 1, 4, tmp_path / "a.json", reference="greedy")
    boards = sample_positions(pgn, 30, 4)
    assert rows[0] == agreement(str(tiny_weights), boards, [greedy_move(b) for b in boards], rule="greedy")
    assert "| top-1 = greedy move | p(greedy move) |" in agreement_report(rows, "greedy")
    assert rows[0].greedy_misses and sum(rows[0].greedy_misses.values()) == pytest.approx(1 - rows[0].top1)
    assert "why the rule prefers its own" in agreement_report(rows, "greedy")
    with pytest.raises(ValueError, match="unknown reference 'leela'"):
        run_agreement([str(tiny_weights)], pgn, 30, 1, 4, None, reference="leela")
    pawns = run_agreement([str(tiny_weights)], pgn, 30, 1, 4, None, reference="greedy-pawns")[0]
    refs = [greedy_move(b, pawns_first=True) for b in boards]
    assert pawns == agreement(str(tiny_weights), boards, refs, rule="greedy-pawns")
    assert refs != [greedy_move(b) for b in boards]  # the two rules differ on these positions
    assert "pawn move" in pawns.greedy_misses and "pawn move" not in rows[0].greedy_misses
    assert sum(pawns.greedy_misses.values()) == pytest.approx(1 - pawns.top1)
    with pytest.raises(ValueError, match="unknown rule 'greedy-knights'"):
        agreement(str(tiny_weights), boards, refs, rule="greedy-knights")


def test_greedy_miss_names_the_first_part_of_the_rule_that_decides() -> None:
    from experiments.transcendence.agreement import greedy_miss
    from experiments.transcendence.greedy import greedy_move

    def why(fen: str, played: str) -> str:
        board = chess.Board(fen)
        return greedy_miss(board, chess.Move.from_uci(played), greedy_move(board))

    assert why("6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1", "g1f1") == "mate"  # the rule mates: Rd8#
    assert why("n3k3/8/8/8/8/8/8/R3K3 w - - 0 1", "a1a2") == "less material"  # the free knight: Rxa8
    # the pawn on e5 guards d4 and f4: the rule plays Nc3 (advance 1, to rank 3, lowest file)
    knight = "4k3/8/8/4p3/8/8/4N3/4K3 w - - 0 1"
    assert greedy_move(chess.Board(knight)).uci() == "e2c3"
    assert why(knight, "e2d4") == "hangs the moved piece"
    assert why(knight, "e1d1") == "advance"  # 0 ranks against 1
    assert why(knight, "e1d2") == "landing rank"  # +1 as well, but to rank 2
    assert why(knight, "e2g3") == "file"
    # greedy-pawns: the same board with a pawn on a2; the rule pushes it two ranks
    pawn = chess.Board("4k3/8/8/4p3/8/8/P3N3/4K3 w - - 0 1")
    rule = greedy_move(pawn, pawns_first=True)
    assert rule.uci() == "a2a4"
    assert greedy_miss(pawn, chess.Move.from_uci("e2c3"), rule, pawns_first=True) == "pawn move"
    assert greedy_miss(pawn, chess.Move.from_uci("a2a3"), rule, pawns_first=True) == "advance"
    assert greedy_miss(pawn, chess.Move.from_uci("e2d4"), rule, pawns_first=True) == "hangs the moved piece"


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed")
def test_relabel_writes_the_same_positions_with_both_labels(tmp_path: Path) -> None:
    import chess.pgn

    from chessformer.bench.analyse import positions_with_next_moves
    from chessformer.training.shards import list_shards, load_shard
    from experiments.transcendence.relabel import relabel
    from tests.pgn_factory import make_pgn

    src = tmp_path / "experts.pgn"
    src.write_text(make_pgn(random.Random(4), 40))
    summary = relabel(src, tmp_path / "rl", 60, depth=1, skip_plies=4, seed=2, progress=False)
    sample = positions_with_next_moves(src, "", 60, seed=2, skip_plies=4)
    assert summary.positions == len(sample) == 60
    for name in ("played", "reference"):
        games = []
        with open(tmp_path / "rl" / f"{name}.pgn") as f:
            while (g := chess.pgn.read_game(f)) is not None:
                games.append(g)
        assert len(games) == 60
        for g, (board, played) in zip(games, sample, strict=True):
            assert g.headers["FEN"] == board.fen() and len(list(g.mainline_moves())) == 1
            mv = next(iter(g.mainline_moves()))
            assert board.is_legal(mv) and (mv == played if name == "played" else True)
        if name == "reference":
            refs = [next(iter(g.mainline_moves())) for g in games]
    assert summary.agree == sum(r == p for r, (_, p) in zip(refs, sample, strict=True)) / 60
    # random movers rarely play Stockfish's move: the two label sets differ
    assert summary.agree < 0.5
    # the usual pipeline reads them: one-move games from a FEN
    cfg = PrepareConfig(workers=1, filters=FilterConfig(min_plies=1, dedup=False))
    man = prepare([tmp_path / "rl" / "reference.pgn"], tmp_path / "data", cfg, progress=False)
    assert man["games"] == 60
    sh = load_shard(tmp_path / "data", list_shards(tmp_path / "data")[0])
    assert (sh.games["fen_anchor"] >= 0).all() and (sh.games["length"] == 1).all()


def test_agreement_positions_can_be_limited_to_one_players_moves(tmp_path: Path) -> None:
    import chess.pgn

    from experiments.transcendence.agreement import sample_positions
    from tests.pgn_factory import make_pgn

    pgn = tmp_path / "g.pgn"
    pgn.write_text(make_pgn(random.Random(3), 20))  # players w0..w19 (white) and b0..b19 (black)
    plies = {}
    with open(pgn) as f:
        while (g := chess.pgn.read_game(f)) is not None:
            plies[g.headers["White"]] = len(list(g.mainline_moves()))
    # "w1" matches w1 and w10..w19, all white: only white-to-move boards of those games
    boards = sample_positions(pgn, 10_000, skip_plies=0, player="w1")
    assert all(b.turn == chess.WHITE for b in boards)
    assert len(boards) == sum((n + 1) // 2 for w, n in plies.items() if w.startswith("w1"))
    # max_games counts the games that have such a player, not the games read (w0 comes first)
    first = sample_positions(pgn, 10_000, skip_plies=0, max_games=1, player="w1")
    assert len(first) == (plies["w1"] + 1) // 2
    with pytest.raises(ValueError, match="nobody"):
        sample_positions(pgn, 10, skip_plies=0, player="nobody")


def test_mates_counts_conversion_and_the_models_probability(tiny_weights, tmp_path: Path) -> None:
    from chessformer.engine.loader import load_model
    from experiments.transcendence.mates import mate_positions, mates_report, model_mates, played_mates, run_mates

    # Fool's mate: after 1. f3 e5 2. g4 Black mates with Qh4 (the only mate). In game 1 Black
    # ("M") takes it; in game 2 "M" plays Black and misses it; game 3 has no player "M".
    pgn = tmp_path / "m.pgn"
    pgn.write_text(
        game_text({"White": "W", "Black": "M"}, "1. f3 e5 2. g4 Qh4# 0-1", "0-1")
        + game_text({"White": "W", "Black": "M"}, "1. f3 e5 2. g4 Nc6 1/2-1/2", "1/2-1/2")
        + game_text({"White": "M", "Black": "W"}, "1. f3 e5 2. g4 Qh4# 0-1", "0-1")
    )
    positions = mate_positions(pgn, "M", 10)
    assert len(positions) == 2 and all(p.mates == (chess.Move.from_uci("d8h4"),) for p in positions)
    assert played_mates(positions) == 1
    assert len(positions[0].board.move_stack) == 3  # f3 e5 g4: the history a transcript model reads
    row = model_mates(str(tiny_weights), positions)
    ev = load_model(str(tiny_weights), "torch", 1, 64).player.evaluate(positions[0].board)
    expected = float(ev.probs[ev.moves.index(chess.Move.from_uci("d8h4"))])
    assert row.p_mate == pytest.approx(expected, rel=1e-3)  # cpu-fast against the reference backend
    assert row.top1_mates == float(ev.moves[0] == chess.Move.from_uci("d8h4"))
    assert row.uniform == pytest.approx(1 / len(ev.moves))
    n, played, rows = run_mates(pgn, "M", [str(tiny_weights)], 10, tmp_path / "m.json")
    assert (n, played, len(rows)) == (2, 1, 1)
    assert "2 positions with a mate in one; a mating move was played in 1 (50.0%)" in mates_report("M", n, played, rows)
    with pytest.raises(ValueError, match="no game of a player named 'nobody'"):
        mate_positions(pgn, "nobody", 10)
    quiet = tmp_path / "quiet.pgn"
    quiet.write_text(game_text({"White": "M", "Black": "W"}, "1. e4 e5 *", "*"))
    with pytest.raises(ValueError, match="no position where 'M' is to move with a mate in one"):
        mate_positions(quiet, "M", 10)


def test_value_check_correlates_the_heads_score_with_material_and_result(tiny_weights, tmp_path: Path) -> None:
    from chessformer.engine.loader import load_model
    from chessformer.engine.player import expected_score
    from experiments.transcendence.__main__ import main
    from experiments.transcendence.value_check import run_value_check, value_positions, value_row

    # white wins a pawn (3. exd5) and keeps it; games differ in their result
    moves = "1. e4 d5 2. Nc3 Nf6 3. exd5 Nxd5 4. Nxd5 Qxd5 5. Nf3 Bg4 6. Be2 e6"
    results = ["1-0", "0-1", "1/2-1/2", "1-0", "1-0", "0-1", "1/2-1/2", "1-0"]
    pgn = tmp_path / "v.pgn"
    pgn.write_text("".join(game_text({"White": "W", "Black": "B"}, f"{moves} {r}", r) for r in results))
    positions = value_positions(pgn, 100, skip_plies=2, seed=3)
    assert len(positions) == len(results)
    for p, r in zip(positions, results, strict=True):
        white = {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}[r]
        assert p.result == (white if p.board.turn == chess.WHITE else 1 - white)  # the side to move's view
        pawns = len(p.board.pieces(chess.PAWN, chess.WHITE)) - len(p.board.pieces(chess.PAWN, chess.BLACK))
        pieces = sum(
            v * (len(p.board.pieces(t, chess.WHITE)) - len(p.board.pieces(t, chess.BLACK)))
            for t, v in ((chess.KNIGHT, 3), (chess.BISHOP, 3), (chess.ROOK, 5), (chess.QUEEN, 9))
        )
        assert p.material == (pawns + pieces) * (1 if p.board.turn == chess.WHITE else -1)
    row = value_row(str(tiny_weights), positions, batch=3)  # batches that do not divide the positions
    player = load_model(str(tiny_weights), "torch", 1, 64).player
    e = np.array([expected_score(player.evaluate(p.board).wdl) for p in positions])
    assert row.corr_material == pytest.approx(np.corrcoef(e, [p.material for p in positions])[0, 1], abs=1e-6)
    assert row.corr_result == pytest.approx(np.corrcoef(e, [p.result for p in positions])[0, 1], abs=1e-6)
    assert (row.score_low, row.score_high) == pytest.approx((e.min(), e.max()), abs=1e-6)
    with pytest.raises(ValueError, match="fewer than 3"):
        run_value_check(pgn, [str(tiny_weights)], 2)
    assert (
        main(["diagnose", "value", str(pgn), "--weights", str(tiny_weights), "--json", str(tmp_path / "v.json")]) == 0
    )
    assert json.loads((tmp_path / "v.json").read_text())[0]["positions"] == len(results)
