import math
import random
from pathlib import Path

import chess
import numpy as np
import pytest

from chessformer.bench.analyse import entropy_report, move_quality_table, state_entropies
from tests.engine.test_engine_subprocess import STOCKFISH
from tests.pgn_factory import game_text


def test_move_quality_table_is_exact_expectation() -> None:
    board = chess.Board()
    moves = [chess.Move.from_uci(u) for u in ("e2e4", "d2d4", "g1f3")]
    rewards = [{moves[0]: 0.6, moves[1]: 0.5, moves[2]: 0.2}]

    def probs_at(b: chess.Board, t: float):
        logits = np.log(np.array([0.5, 0.3, 0.2]))
        p = np.exp(logits / t) / np.exp(logits / t).sum()
        return moves, p

    rows = move_quality_table([board], probs_at, rewards, temperatures=(0.001, 1.0))
    assert rows[0].reward == pytest.approx(0.6, abs=1e-6) and rows[0].top1 == pytest.approx(1.0)
    assert rows[1].reward == pytest.approx(0.5 * 0.6 + 0.3 * 0.5 + 0.2 * 0.2)
    assert rows[1].top1 == pytest.approx(0.5) and rows[1].top3 == pytest.approx(1.0)
    assert rows[1].reward_delta == 0 and rows[0].reward_delta > 0


def test_entropy_of_known_distribution(tmp_path: Path) -> None:
    rng = random.Random(0)
    games = []
    for i in range(400):
        reply = "e5" if i % 2 else "c5"
        third = rng.choice(["Nf3", "Nc3", "Bc4", "d4"])
        games.append(
            game_text({"White": f"a{i}", "Black": f"b{i}", "Site": f"s{i}"}, f"1. e4 {reply} 2. {third} 1-0", "1-0")
        )
    (tmp_path / "g.pgn").write_text("".join(games))
    ent = sorted(state_entropies([tmp_path / "g.pgn"], max_ply=3, min_visits=100))
    # root: always e4 -> 0; after e4: e5/c5 half each -> log 2 / log 20; after e4 e5 and e4 c5: ~4 uniform choices
    assert ent[0] == pytest.approx(0.0)
    assert math.log(2) / math.log(20) in [pytest.approx(e, abs=1e-9) for e in ent]
    assert len(ent) == 4
    r = entropy_report([tmp_path], tmp_path / "e.png", max_ply=3, min_visits=100)  # a folder of PGNs too
    assert r["states"] == 4 and (tmp_path / "e.png").stat().st_size > 0


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed")
def test_table1_end_to_end(tiny_weights: Path, tmp_path: Path) -> None:
    from chessformer.bench.analyse import run_table1
    from chessformer.bench.engines import parse_engine_spec
    from chessformer.bench.match import MatchConfig, run_match

    spec = parse_engine_spec(f"chessformer:temperature=1,weights={tiny_weights}")
    run_match(
        MatchConfig(spec, [parse_engine_spec("random")], games=2, movetime=0.01, max_moves=15),
        tmp_path / "g.pgn",
        progress=False,
    )
    rows = run_table1(
        tmp_path / "g.pgn", str(tiny_weights), "ChessFormer", positions=4, sf_seconds=0.05, out_json=tmp_path / "t.json"
    )
    assert [r.temperature for r in rows] == [0.001, 0.75, 1.0]
    assert all(0 <= r.reward <= 1 and r.top1 <= r.top3 <= r.top5 <= 1 + 1e-9 and r.positions == 4 for r in rows)
