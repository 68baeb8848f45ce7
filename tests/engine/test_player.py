import chess
import numpy as np
import pytest

from chessformer.engine.backends.torch_backend import TorchBackend
from chessformer.engine.player import Player, sample_index, temperature_probs, wdl_permille, wdl_to_cp
from chessformer.engine.tokenizer import InputSpec


@pytest.fixture(scope="module")
def player(tiny_model) -> Player:
    return Player(TorchBackend(tiny_model, device="cpu"))


def test_distribution_over_legal_moves_only(player: Player) -> None:
    board = chess.Board()
    board.push_uci("e2e4")
    ev = player.evaluate(board)
    assert set(ev.moves) == set(board.legal_moves)
    assert abs(ev.probs.sum() - 1) < 1e-9
    assert list(ev.probs) == sorted(ev.probs, reverse=True)
    assert abs(ev.wdl.sum() - 1) < 1e-9


def test_bare_fen_and_searchmoves(player: Player) -> None:
    board = chess.Board("4k3/8/8/8/8/8/4P3/4K3 w - - 0 1")
    allowed = [chess.Move.from_uci("e2e3"), chess.Move.from_uci("e1d1")]
    ev = player.evaluate(board, allowed)
    assert set(ev.moves) == set(allowed)


def test_tau_zero_is_argmax(player: Player) -> None:
    ev = player.evaluate(chess.Board())
    rng = np.random.default_rng(1)
    assert all(sample_index(ev.logits, 0.0, rng) == 0 for _ in range(200))
    assert temperature_probs(ev.logits, 0.0)[0] == 1.0


def test_tau_one_matches_model_probabilities_chi_square(player: Player) -> None:
    from scipy.stats import chisquare

    board = chess.Board()
    board.push_uci("d2d4")
    ev = player.evaluate(board)
    # sharpen the random model's logits so the test has power against a uniform sampler
    logits = ev.logits * 40
    p = temperature_probs(logits, 1.0)
    rng = np.random.default_rng(12345)
    n = 5000
    counts = np.bincount([sample_index(logits, 1.0, rng) for _ in range(n)], minlength=len(p))
    keep = p * n >= 5  # chi-square needs expected counts >= 5; pool the rest
    observed = np.append(counts[keep], counts[~keep].sum())
    expected = np.append(p[keep] * n, p[~keep].sum() * n)
    if expected[-1] == 0:
        observed, expected = observed[:-1], expected[:-1]
    assert chisquare(observed, expected).pvalue > 0.001
    # and a uniform sampler would fail the same test
    uniform = np.bincount(rng.integers(0, len(p), n), minlength=len(p))
    u_obs = np.append(uniform[keep], uniform[~keep].sum())[: len(expected)]
    assert chisquare(u_obs * expected.sum() / u_obs.sum(), expected).pvalue < 1e-6


def test_lower_temperature_raises_top_probability() -> None:
    logits = np.array([2.0, 1.5, 0.3, -1.0])
    tops = [temperature_probs(logits, t)[0] for t in (2.0, 1.0, 0.5, 0.1, 0.01)]
    assert all(a < b for a, b in zip(tops, tops[1:], strict=False))
    p = temperature_probs(logits, 0.5)
    q = np.exp(logits) / np.exp(logits).sum()
    assert np.allclose(p, q**2 / (q**2).sum())  # p_tau proportional to p ** (1 / tau)
    with pytest.raises(ValueError):
        temperature_probs(logits, -1)
    with pytest.raises(ValueError):
        temperature_probs(logits, float("nan"))


def test_seeded_sampling_is_reproducible() -> None:
    logits = np.linspace(0, 1, 30)
    a = [sample_index(logits, 1.0, np.random.default_rng(7)) for _ in range(1)]
    b = [sample_index(logits, 1.0, np.random.default_rng(7)) for _ in range(1)]
    assert a == b


def test_wdl_helpers() -> None:
    assert wdl_to_cp(np.array([0.5, 0.0, 0.5])) == 0
    assert wdl_to_cp(np.array([0.9, 0.1, 0.0])) > 300
    assert wdl_to_cp(np.array([1.0, 0.0, 0.0])) == 2000
    w = wdl_permille(np.array([0.3334, 0.3333, 0.3333]))
    assert sum(w) == 1000 and all(x >= 0 for x in w)


class _FixedBackend:
    """Prefers the given moves (by vocabulary id) and reports a fixed win/draw/loss."""

    name = "fixed"
    block_size = 64
    inputs = InputSpec()  # the plain transcript: the anchor alone

    def __init__(self, preferred: dict[int, float], wdl: tuple[float, float, float]) -> None:
        self.preferred, self.wdl = preferred, wdl

    def evaluate(self, sequences):  # noqa: ANN001, ANN201 - the Backend interface
        from chessformer.engine.backends.base import Evaluation
        from chessformer.engine.tokenizer import N_MOVES

        logits = np.zeros(N_MOVES, dtype=np.float32)
        for i, v in self.preferred.items():
            logits[i] = v
        return [Evaluation(logits.copy(), np.log(np.array(self.wdl, dtype=np.float32))) for _ in sequences]


def test_mate_in_one_keeps_only_the_mating_moves() -> None:
    from chessformer.engine.player import gives_mate
    from chessformer.engine.tokenizer import move_id

    # a model that loves the stalemate Qf7 over the mate Qf8
    board = chess.Board("7k/8/6K1/8/8/8/8/5Q2 w - - 0 1")
    stalemate, mate = chess.Move.from_uci("f1f7"), chess.Move.from_uci("f1f8")
    assert gives_mate(board, mate) and not gives_mate(board, stalemate)
    player = Player(_FixedBackend({move_id(board, stalemate): 9.0, move_id(board, mate): 5.0}, (0.9, 0.05, 0.05)))  # type: ignore[arg-type]
    assert player.evaluate(board).moves[0] == stalemate  # off by default in the player
    ev = player.evaluate(board, take_mates=True)
    assert ev.moves == (mate,) and ev.probs.sum() == pytest.approx(1.0)
    # two mates (Ra8 and Rb8 both mate a cornered king): both stay, ordered by the model
    two = chess.Board("7k/6pp/8/8/8/8/R7/1R4K1 w - - 0 1")
    mates = {m for m in two.legal_moves if gives_mate(two, m)}
    assert {m.uci() for m in mates} == {"a2a8", "b1b8"}
    rb8 = chess.Move.from_uci("b1b8")
    ev = Player(_FixedBackend({move_id(two, rb8): 3.0}, (0.9, 0.05, 0.05))).evaluate(two, take_mates=True)  # type: ignore[arg-type]
    assert ev.moves[0] == rb8 and set(ev.moves) == mates
    # no mate on the board: the candidates are untouched
    start = chess.Board()
    flat = Player(_FixedBackend({}, (0.4, 0.2, 0.4)))  # type: ignore[arg-type]
    assert len(flat.evaluate(start, take_mates=True).moves) == 20


def test_draw_avoidance_leaves_out_drawing_moves_unless_behind_in_material() -> None:
    from chessformer.engine.material import material_balance
    from chessformer.engine.player import allows_draw_by_rule
    from chessformer.engine.tokenizer import move_id

    # Qf7 stalemates, Qf8 mates: a model that loves Qf7
    board = chess.Board("7k/8/6K1/8/8/8/8/5Q2 w - - 0 1")
    stalemate, mate = chess.Move.from_uci("f1f7"), chess.Move.from_uci("f1f8")
    assert allows_draw_by_rule(board, stalemate) and not allows_draw_by_rule(board, mate)
    assert material_balance(board) == 9
    prefs = {move_id(board, stalemate): 9.0, move_id(board, mate): 5.0}
    # the gate is the material, whatever the value head says (a timid one here)
    ahead = Player(_FixedBackend(prefs, (0.1, 0.2, 0.7)))  # type: ignore[arg-type]
    assert ahead.evaluate(board).moves[0] == stalemate  # off by default: the paper's plain sampling
    ev = ahead.evaluate(board, avoid_draws=True)
    assert ev.moves[0] == mate and stalemate not in ev.moves and ev.probs.sum() == pytest.approx(1.0)
    assert len(ev.moves) == board.legal_moves.count() - sum(allows_draw_by_rule(board, m) for m in board.legal_moves)
    # behind, a draw is welcome: black without its queen may repeat 1.Nf3 Nf6 2.Ng1 Ng8 3.Nf3 Nf6
    down = chess.Board("rnb1kbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1")
    for uci in ("g1f3", "g8f6", "f3g1", "f6g8", "g1f3"):
        down.push_uci(uci)
    nf6 = chess.Move.from_uci("g8f6")
    assert allows_draw_by_rule(down, nf6) and material_balance(down) == -9
    keen = Player(_FixedBackend({move_id(down, nf6): 9.0}, (0.9, 0.05, 0.05)))  # type: ignore[arg-type]
    assert keen.evaluate(down, avoid_draws=True).moves[0] == nf6
    down.pop()  # white, a queen up, to play 3.Nf3 again: left out
    nf3_again = chess.Move.from_uci("g1f3")
    assert material_balance(down) == 9 and allows_draw_by_rule(down, nf3_again)
    assert nf3_again not in keen.evaluate(down, avoid_draws=True).moves
    # when every candidate draws, they all stay
    assert ahead.evaluate(board, [stalemate], avoid_draws=True).moves == (stalemate,)
    assert ahead.choose(board, 0.0, np.random.default_rng(0), avoid_draws=True) == mate

    # a repetition in the making: after 1.Nf3 Nf6 2.Ng1 Ng8, 3.Nf3 repeats a position
    game = chess.Board()
    for uci in ("g1f3", "g8f6", "f3g1", "f6g8"):
        game.push_uci(uci)
    nf3 = chess.Move.from_uci("g1f3")
    assert allows_draw_by_rule(game, nf3) and len(game.move_stack) == 4  # the stack is left as it was
    # a new position whose reply lets the opponent claim: its king goes back to g8 a third time
    shuffle = chess.Board("7k/8/8/8/8/8/8/R3K3 w - - 0 1")
    for uci in ["a1b1", "h8g8", "b1a1", "g8h8", "a1b1", "h8g8", "e1d1", "g8h8", "d1c1", "h8g7", "c1d2", "g7f8"]:
        shuffle.push_uci(uci)
    back = chess.Move.from_uci("d2e1")
    shuffle.push(back)
    assert not shuffle.is_repetition(2) and not shuffle.is_repetition(3)
    shuffle.pop()
    assert allows_draw_by_rule(shuffle, back) and not allows_draw_by_rule(shuffle, chess.Move.from_uci("d2d3"))
    rep = Player(_FixedBackend({move_id(game, nf3): 9.0}, (0.9, 0.05, 0.05)))  # type: ignore[arg-type]
    assert rep.evaluate(game).moves[0] == nf3 and nf3 not in rep.evaluate(game, avoid_draws=True).moves


def test_material_guard_leaves_out_a_hanging_queen() -> None:
    from chessformer.engine.tokenizer import move_id

    board = chess.Board()
    for san in ("e4", "e5", "Nf3"):
        board.push_san(san)
    qg5, nc6 = board.parse_san("Qg5"), board.parse_san("Nc6")
    keen = Player(_FixedBackend({move_id(board, qg5): 9.0, move_id(board, nc6): 5.0}, (0.4, 0.2, 0.4)))  # type: ignore[arg-type]
    assert keen.evaluate(board).moves[0] == qg5  # off by default: the model's moves as they are
    ev = keen.evaluate(board, guard=True)
    assert ev.moves[0] == nc6 and qg5 not in ev.moves and ev.probs.sum() == pytest.approx(1.0)
    # searchmoves that all lose stay as they are
    assert keen.evaluate(board, [qg5], guard=True).moves == (qg5,)


def test_guarded_capture_into_stalemate_counts_as_giving_up_the_lead() -> None:
    """From a game against Stockfish Skill 0: far ahead, the guard alone kept only the two captures
    of the g5 rook, and both stalemate; with draw avoidance the draw counts as losing the lead."""
    from chessformer.engine.player import allows_draw_by_rule
    from chessformer.engine.tokenizer import move_id

    board = chess.Board("1Q6/Q3pkp1/P5p1/2N3r1/7P/4B1P1/2P1K3/7R w - - 1 42")
    bxg5, hxg5 = chess.Move.from_uci("e3g5"), chess.Move.from_uci("h4g5")
    assert allows_draw_by_rule(board, bxg5) and allows_draw_by_rule(board, hxg5)
    keen = Player(_FixedBackend({move_id(board, bxg5): 9.0}, (0.9, 0.05, 0.05)))  # type: ignore[arg-type]
    assert set(keen.evaluate(board, guard=True).moves) == {bxg5, hxg5}  # no draw avoidance: the captures
    ev = keen.evaluate(board, avoid_draws=True, guard=True)
    assert bxg5 not in ev.moves and hxg5 not in ev.moves and len(ev.moves) > 20
    assert not any(allows_draw_by_rule(board, m) for m in ev.moves)
