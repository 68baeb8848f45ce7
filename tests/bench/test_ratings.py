import math

import pytest

from chessformer.bench.ratings import GameResult, Glicko2Rating, glicko2_against_anchors, glicko2_update, mle_elo


def test_glicko2_worked_example_from_glickman() -> None:
    # Glickman (2013), "Example of the Glicko-2 system": 1500/200/0.06, tau 0.5,
    # beats 1400/30, loses to 1550/100 and 1700/300 -> 1464.06 / 151.52 / 0.05999
    r = glicko2_update(Glicko2Rating(1500, 200, 0.06), [(1400, 30, 1), (1550, 100, 0), (1700, 300, 0)], tau=0.5)
    assert r.rating == pytest.approx(1464.06, abs=0.01)
    assert r.rd == pytest.approx(151.52, abs=0.01)
    assert r.volatility == pytest.approx(0.05999, abs=1e-5)


def test_glicko2_against_fixed_anchors_like_the_paper() -> None:
    anchors = {"SF1": 1554.0, "SF3": 1867.0}
    games = [GameResult("model", "SF1", 1.0)] * 30 + [GameResult("model", "SF1", 0.0)] * 20
    games += [GameResult("SF3", "model", 1.0)] * 40 + [GameResult("SF3", "model", 0.5)] * 10
    out = glicko2_against_anchors(games, anchors)
    m = out["model"]
    # 60% against 1554 and 10% against 1867: somewhere in between, below 1554 + 70
    assert 1450 < m.rating < 1650
    assert m.rd < 100 and m.interval95[0] < m.rating < m.interval95[1]
    # more wins, higher rating
    better = glicko2_against_anchors(games + [GameResult("model", "SF3", 1.0)] * 20, anchors)["model"]
    assert better.rating > m.rating


def test_mle_elo_two_players_matches_closed_form() -> None:
    games = [GameResult("a", "b", 1.0)] * 76 + [GameResult("a", "b", 0.0)] * 24
    est = mle_elo(games, anchors={"b": 1000.0})
    expected = 1000 + 400 * math.log10(0.76 / 0.24)
    assert est["a"].rating == pytest.approx(expected, abs=0.5)
    # interval from the Fisher information: 1.96 / (k * sqrt(n p (1 - p)))
    k = math.log(10) / 400
    half = 1.959964 / (k * math.sqrt(100 * 0.76 * 0.24))
    assert est["a"].error95 == pytest.approx(half, rel=0.01)
    assert est["b"].low == est["b"].high == 1000.0


def test_mle_elo_pool_is_transitive_and_draws_count_half() -> None:
    games = []
    for _ in range(50):
        games += [
            GameResult("a", "b", 1.0),
            GameResult("a", "b", 0.5),
            GameResult("b", "c", 1.0),
            GameResult("b", "c", 0.5),
        ]
    est = mle_elo(games, anchors={"c": 0.0})
    # 75% each step: +191 Elo per step
    step = 400 * math.log10(3)
    assert est["b"].rating == pytest.approx(step, abs=2)
    assert est["a"].rating == pytest.approx(2 * step, abs=3)


def test_mle_elo_perfect_score_stays_finite() -> None:
    est = mle_elo([GameResult("a", "b", 1.0)] * 10, anchors={"b": 0.0})
    assert math.isfinite(est["a"].rating) and est["a"].rating > 400


def test_rate_cli_on_a_pgn(tmp_path) -> None:
    from chessformer.bench.__main__ import main

    pgn = tmp_path / "g.pgn"
    games = []
    for i in range(30):
        res = "1-0" if i % 3 else "1/2-1/2"
        games.append(f'[White "model"]\n[Black "Stockfish skill 1"]\n[Result "{res}"]\n\n1. e4 e5 {res}\n\n')
    for _ in range(10):
        games.append('[White "Stockfish skill 0"]\n[Black "Stockfish skill 1"]\n[Result "0-1"]\n\n1. e4 e5 0-1\n\n')
    pgn.write_text("".join(games))
    assert main(["rate", str(pgn), "--anchor", "paper", "--json", str(tmp_path / "r.json")]) == 0
    import json

    table = json.loads((tmp_path / "r.json").read_text())
    assert table["Stockfish skill 1"]["anchor"] and table["model"]["elo"]["rating"] > 1554
    assert table["model"]["glicko2"]["rating"] > 1554
    assert table["Stockfish skill 0"]["elo"]["rating"] < 1554


def test_result_record_rates_and_resumes_like_its_pgn(tmp_path) -> None:
    from chessformer.bench.__main__ import main
    from chessformer.bench.match import finished_games
    from chessformer.bench.rate import game_ends, read_results, write_result_record

    games = []
    for i in range(12):
        res = ("1-0", "0-1", "1/2-1/2")[i % 3]
        term = {
            4: "forfeit: illegal move",
            5: "normal: stalemate",
            6: "normal: checkmate",
            8: "adjudication: 150 moves",
        }
        term = f'[Termination "{term[i]}"]\n' if i in term else ""
        games.append(
            f'[Event "m"]\n[Site "?"]\n[White "CF-x T=0.1"]\n[Black "say "hi""]\n[Result "{res}"]\n{term}'
            f'[MatchId "abc123"]\n[GameNumber "{i}"]\n[BenchEngineColor "white"]\n\n1. e4 e5 2. Nf3 Nc6 {res}\n\n'
        )
    games.append('[White "a"]\n[Black "b"]\n[Result "*"]\n[MatchId "abc123"]\n[GameNumber "99"]\n\n1. d4 *\n\n')
    # a malformed result is not rated, so a resumed match must play that game again, not skip it
    games.append('[White "a"]\n[Black "b"]\n[Result "1-O"]\n[MatchId "abc123"]\n[GameNumber "98"]\n\n1. d4 *\n\n')
    pgn = tmp_path / "models.pgn"
    pgn.write_text("".join(games))
    record = tmp_path / "record.pgn"
    assert write_result_record(pgn, record) == 12  # the unfinished and malformed games are left out
    assert "Nf3" not in record.read_text() and "Event" not in record.read_text()
    for skip in (False, True):
        assert read_results([record], skip_forfeits=skip) == read_results([pgn], skip_forfeits=skip)
    assert len(read_results([record], skip_forfeits=True)) == 11
    assert read_results([record])[0].opponent == 'say "hi"'
    assert finished_games(record) == finished_games(pgn) == {("abc123", i) for i in range(12)}
    ends = game_ends([record])
    assert ends == game_ends([pgn]) and sum(ends["CF-x T=0.1"].values()) == 12
    assert ends["CF-x T=0.1"]["win: mate"] == 1 and ends['say "hi"']["loss: mate"] == 1  # game 6: 1-0
    assert ends["CF-x T=0.1"]["draw: stalemate"] == 1 and ends["CF-x T=0.1"]["draw: move limit"] == 1
    assert ends["CF-x T=0.1"]["loss: forfeit"] == 1  # game 4: 0-1 by its own forfeit
    with pytest.raises(ValueError, match="overwrite its own PGN"):
        write_result_record(pgn, pgn)
    assert main(["rate", str(pgn), "--record-dir", str(tmp_path / "records")]) == 0
    assert (tmp_path / "records" / "models.pgn").read_text() == record.read_text()


@pytest.mark.parametrize("tail", ["", "\n", "\n\n"])
def test_appended_game_is_read_after_a_file_without_a_blank_line(tmp_path, tail: str) -> None:
    """A PGN copied in to resume a run may end right after its result: the next appended game
    must still be read (python-chess otherwise takes its headers for movetext)."""
    import chess.pgn

    from chessformer.bench.match import finished_games
    from chessformer.bench.rate import finished_headers
    from chessformer.engine.pgn import append_game

    pgn = tmp_path / "models.pgn"
    pgn.write_text('[White "a"]\n[Black "b"]\n[Result "1-0"]\n[MatchId "m"]\n[GameNumber "0"]\n\n1. e4 e5 1-0' + tail)
    game = chess.pgn.Game({"White": "a", "Black": "b", "Result": "0-1", "MatchId": "m", "GameNumber": "1"})
    game.add_main_variation(chess.Move.from_uci("d2d4"))
    append_game(pgn, game)
    append_game(pgn, game.accept(chess.pgn.StringExporter(headers=True)).replace('"1"', '"2"'))
    assert [h["Result"] for h in finished_headers([pgn])] == ["1-0", "0-1", "0-1"]
    assert finished_games(pgn) == {("m", 0), ("m", 1), ("m", 2)}
    assert pgn.read_text().endswith("0-1\n\n") and "\n\n\n" not in pgn.read_text()
    empty = tmp_path / "new.pgn"
    append_game(empty, game)
    assert empty.read_text().startswith("[White")  # nothing before the first game
