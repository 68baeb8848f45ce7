from pathlib import Path

import chess.pgn
import pytest

from chessformer.training.filters import FilterConfig
from chessformer.training.prepare import PrepareConfig, prepare
from experiments.transcendence.generate import Expert, Pool, generate, load_pool, pairing
from tests.engine.test_engine_subprocess import STOCKFISH

ROOT = Path(__file__).resolve().parents[2]


def test_pool_file_and_pairings() -> None:
    pool = load_pool(ROOT / "experiments" / "transcendence" / "pools" / "expert_pool.toml")
    assert len(pool.experts) == 5 and pool.seed == 7
    w, b, _ = pairing(pool, 0)
    w2, b2, _ = pairing(pool, 1)
    assert w != b and (w2, b2) != (w, b)
    assert [pairing(pool, 3)[2].random() for _ in range(2)][0] == pairing(pool, 3)[2].random()


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed")
def test_generate_resume_reproducible_and_filter(tmp_path: Path) -> None:
    pool = Pool(
        experts=(
            Expert("a", depth=1, random_move_prob=0.5),
            Expert("b", depth=1, random_move_prob=0.1),
            Expert("c", depth=1, random_move_prob=0.3),
        ),
        seed=3,
        opening_plies=4,
        max_plies=60,
    )
    out = tmp_path / "g.pgn"
    assert generate(pool, 6, out, concurrency=2, progress=False) == 6
    assert generate(pool, 8, out, concurrency=2, progress=False) == 2  # resumes: only games 6 and 7
    with open(out) as f:
        games = list(iter(lambda: chess.pgn.read_game(f), None))
    assert sorted(int(g.headers["GameNumber"]) for g in games) == list(range(8))
    assert all("random" in g.headers["WhiteExpert"] for g in games)
    # reproducible by seed: the same game number gives the same moves
    again = tmp_path / "again.pgn"
    generate(pool, 2, again, concurrency=1, progress=False)
    with open(again) as f:
        first_two = {
            g.headers["GameNumber"]: str(g.mainline_moves()) for g in iter(lambda: chess.pgn.read_game(f), None)
        }
    orig = {g.headers["GameNumber"]: str(g.mainline_moves()) for g in games if g.headers["GameNumber"] in first_two}
    assert first_two == orig
    # a rating cap by expert: keep games between a and c only
    m = prepare(
        [out], tmp_path / "d", PrepareConfig(workers=1, filters=FilterConfig(players=("a", "c"))), progress=False
    )
    kept = sum(1 for g in games if {g.headers["White"], g.headers["Black"]} <= {"a", "c"})
    assert m["games"] == kept and m["removed"]["players"] == 8 - kept


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed")
def test_committee_games_draw_an_expert_for_every_move(tmp_path: Path) -> None:
    from experiments.transcendence.generate import COMMITTEE
    from experiments.transcendence.habits import habit_move

    # two experts that always err by their habit: each move shows which of them made it
    experts = (
        Expert("kings", depth=1, random_move_prob=1.0, habit="king"),
        Expert("knights", depth=1, random_move_prob=1.0, habit="knight"),
    )
    by_move = Pool(experts=experts, seed=5, opening_plies=0, max_plies=40, mixing="move")
    by_game = Pool(experts=experts, seed=5, opening_plies=0, max_plies=40)

    def sides_with_both_habits(pool: Pool, out: Path) -> tuple[int, list[chess.pgn.Game]]:
        generate(pool, 6, out, concurrency=1, progress=False)
        with open(out) as f:
            games = list(iter(lambda: chess.pgn.read_game(f), None))
        both = 0
        for g in games:
            board, seen = g.board(), {chess.WHITE: set(), chess.BLACK: set()}
            for move in g.mainline_moves():
                king, knight = habit_move(board, "king"), habit_move(board, "knight")
                if king is not None and knight is not None and king != knight:  # the move tells who moved
                    seen[board.turn].add("king" if move == king else "knight" if move == knight else "?")
                board.push(move)
            both += sum({"king", "knight"} <= s for s in seen.values())
        return both, games

    mixed, games = sides_with_both_habits(by_move, tmp_path / "committee.pgn")
    assert mixed >= 6  # most sides of most games had moves of both experts
    assert all(g.headers["White"] == g.headers["Black"] == COMMITTEE for g in games)
    assert "kings, knights" in games[0].headers["WhiteExpert"]
    plain, _ = sides_with_both_habits(by_game, tmp_path / "pairs.pgn")
    assert plain == 0  # two experts per game: each side keeps one habit
    # the committee's games pass the players filter under the committee's name
    m = prepare(
        [tmp_path / "committee.pgn"],
        tmp_path / "d",
        PrepareConfig(workers=1, filters=FilterConfig(players=(COMMITTEE,))),
        progress=False,
    )
    assert m["games"] == 6


def test_pool_mixing_must_be_known(tmp_path: Path) -> None:
    pool = tmp_path / "p.toml"
    pool.write_text('mixing = "ply"\n[[expert]]\nname = "a"\n[[expert]]\nname = "b"\n')
    with pytest.raises(ValueError, match="mixing must be one of"):
        load_pool(pool)
    pool.write_text('mixing = "move"\n[[expert]]\nname = "a"\n[[expert]]\nname = "b"\n')
    assert load_pool(pool).mixing == "move"


def test_done_numbers_counts_finished_games_of_this_seed(tmp_path: Path) -> None:
    from experiments.transcendence.generate import done_numbers

    def game(number: int, seed: int, result: str) -> str:
        return (
            f'[Event "x"]\n[Result "{result}"]\n[GameNumber "{number}"]\n[PoolSeed "{seed}"]\n\n1. e4 e5 {result}\n\n'
        )

    pgn = tmp_path / "g.pgn"
    assert done_numbers(pgn, 1) == set()  # no file yet
    # finished games of seed 1 count; an unfinished or malformed Result is played again, as the
    # ratings would not count it; another seed's games are another pool's
    pgn.write_text(game(0, 1, "1-0") + game(1, 1, "*") + game(2, 1, "1-O") + game(3, 2, "0-1") + game(4, 1, "1/2-1/2"))
    assert done_numbers(pgn, 1) == {0, 4}
    assert done_numbers(pgn, 2) == {3}
