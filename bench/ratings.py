"""Ratings from game results: Glicko-2 against fixed anchors, and maximum-likelihood Elo.

Glicko-2 follows Glickman, "Example of the Glicko-2 system" (2013); tests check the
worked example there (1500/200/0.06 against three opponents -> 1464.06/151.52/0.05999).
The paper rates each model this way: opponents are anchors with fixed ratings and RD 0,
the model starts at 1500, RD 500, volatility 0.06, system constant tau 0.5.

The maximum-likelihood Elo fits all players of a pool at once (the model of BayesElo and
Ordo without their draw parameter): P(i beats j) = 1 / (1 + 10 ** ((R_j - R_i) / 400)),
draws counting half. Intervals come from the inverse Fisher information. A weak Gaussian
prior (sd 2000 Elo around the anchors' mean) keeps a player with a perfect score finite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

GLICKO_SCALE = 173.7178  # rating points per Glicko-2 unit
Z95 = 1.959964  # two-sided 95% normal quantile


@dataclass(frozen=True)
class GameResult:
    """One game between two named players; score is the first player's (1, 0.5, 0)."""

    player: str
    opponent: str
    score: float


@dataclass(frozen=True)
class Glicko2Rating:
    rating: float  # Glicko rating points
    rd: float  # rating deviation (points); 95% interval is rating +- 1.96 rd
    volatility: float

    @property
    def interval95(self) -> tuple[float, float]:
        return self.rating - Z95 * self.rd, self.rating + Z95 * self.rd


def glicko2_update(
    player: Glicko2Rating, games: Sequence[tuple[float, float, float]], tau: float = 0.5, eps: float = 1e-6
) -> Glicko2Rating:
    """One Glicko-2 rating period. ``games``: (opponent rating, opponent RD, score)."""
    mu = (player.rating - 1500) / GLICKO_SCALE
    phi = player.rd / GLICKO_SCALE
    sigma = player.volatility
    if not games:  # no games: only the deviation grows
        return Glicko2Rating(player.rating, math.sqrt(phi**2 + sigma**2) * GLICKO_SCALE, sigma)
    mus = np.array([(r - 1500) / GLICKO_SCALE for r, _, _ in games])
    phis = np.array([rd / GLICKO_SCALE for _, rd, _ in games])
    scores = np.array([s for _, _, s in games])
    g = 1 / np.sqrt(1 + 3 * phis**2 / math.pi**2)
    e = 1 / (1 + np.exp(-g * (mu - mus)))
    v = 1 / float(np.sum(g**2 * e * (1 - e)))
    delta = v * float(np.sum(g * (scores - e)))
    # new volatility: Illinois-method root of f (step 5 of Glickman's procedure)
    a = math.log(sigma**2)

    def f(x: float) -> float:
        ex = math.exp(x)
        return ex * (delta**2 - phi**2 - v - ex) / (2 * (phi**2 + v + ex) ** 2) - (x - a) / tau**2

    big_a = a
    if delta**2 > phi**2 + v:
        big_b = math.log(delta**2 - phi**2 - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        big_b = a - k * tau
    fa, fb = f(big_a), f(big_b)
    while abs(big_b - big_a) > eps:
        c = big_a + (big_a - big_b) * fa / (fb - fa)
        fc = f(c)
        if fc * fb <= 0:
            big_a, fa = big_b, fb
        else:
            fa /= 2
        big_b, fb = c, fc
    new_sigma = math.exp(big_a / 2)
    phi_star = math.sqrt(phi**2 + new_sigma**2)
    new_phi = 1 / math.sqrt(1 / phi_star**2 + 1 / v)
    new_mu = mu + new_phi**2 * float(np.sum(g * (scores - e)))
    return Glicko2Rating(new_mu * GLICKO_SCALE + 1500, new_phi * GLICKO_SCALE, new_sigma)


def glicko2_against_anchors(
    games: Iterable[GameResult],
    anchors: dict[str, float],
    start: Glicko2Rating = Glicko2Rating(1500.0, 500.0, 0.06),
    tau: float = 0.5,
    period: int = 0,
) -> dict[str, Glicko2Rating]:
    """Glicko-2 of every non-anchor player against anchors with fixed rating and RD 0.

    ``period``: games per rating period in the order given; 0 puts all games of a
    player in one period. Games between two non-anchors are ignored (use ``mle_elo``).
    """
    per_player: dict[str, list[tuple[float, float, float]]] = {}
    for gr in games:
        if gr.opponent in anchors and gr.player not in anchors:
            per_player.setdefault(gr.player, []).append((anchors[gr.opponent], 0.0, gr.score))
        elif gr.player in anchors and gr.opponent not in anchors:
            per_player.setdefault(gr.opponent, []).append((anchors[gr.player], 0.0, 1 - gr.score))
    out = {}
    for name, gs in per_player.items():
        r = start
        step = period or len(gs)
        for i in range(0, len(gs), step):
            r = glicko2_update(r, gs[i : i + step], tau)
        out[name] = r
    return out


@dataclass(frozen=True)
class EloEstimate:
    rating: float  # Elo points
    low: float  # 95% interval, low end (points)
    high: float  # 95% interval, high end (points)
    games: int
    score: float  # mean score over its games (0..1)

    @property
    def error95(self) -> float:
        return (self.high - self.low) / 2


def mle_elo(
    games: Sequence[GameResult],
    anchors: dict[str, float] | None = None,
    prior_sd: float = 2000.0,
    iterations: int = 100,
) -> dict[str, EloEstimate]:
    """Maximum-likelihood Elo of every player, with 95% intervals.

    ``anchors`` fixes some players' ratings (their interval is zero); without anchors the
    first player by name is fixed at 0. Raises ValueError if an anchor played no game.
    """
    names = sorted({g.player for g in games} | {g.opponent for g in games})
    if not names:
        return {}
    anchors = dict(anchors or {})
    if not anchors:
        anchors = {names[0]: 0.0}
    for a in anchors:
        if a not in names:
            raise ValueError(f"anchor {a!r} played no game")
    free = [n for n in names if n not in anchors]
    idx = {n: i for i, n in enumerate(free)}
    k = math.log(10) / 400
    center = float(np.mean(list(anchors.values())))
    r = np.full(len(free), center)
    pi = np.array([idx.get(g.player, -1) for g in games])
    oi = np.array([idx.get(g.opponent, -1) for g in games])
    pa = np.array([anchors.get(g.player, 0.0) for g in games])
    oa = np.array([anchors.get(g.opponent, 0.0) for g in games])
    s = np.array([g.score for g in games], dtype=float)

    def ratings(vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rp = np.where(pi >= 0, vec[np.maximum(pi, 0)], pa)
        ro = np.where(oi >= 0, vec[np.maximum(oi, 0)], oa)
        return rp, ro

    hess = np.eye(len(free))
    for _ in range(iterations):
        rp, ro = ratings(r)
        e = 1 / (1 + np.exp(-k * (rp - ro)))
        w = k * k * e * (1 - e)
        grad = -(r - center) / prior_sd**2
        hess = np.eye(len(free)) / prior_sd**2
        resid = k * (s - e)
        np.add.at(grad, pi[pi >= 0], resid[pi >= 0])
        np.add.at(grad, oi[oi >= 0], -resid[oi >= 0])
        both = (pi >= 0) & (oi >= 0)
        np.add.at(hess, (pi[pi >= 0], pi[pi >= 0]), w[pi >= 0])
        np.add.at(hess, (oi[oi >= 0], oi[oi >= 0]), w[oi >= 0])
        np.add.at(hess, (pi[both], oi[both]), -w[both])
        np.add.at(hess, (oi[both], pi[both]), -w[both])
        step = np.linalg.solve(hess, grad)
        step = np.clip(step, -400, 400)  # damped Newton: no wild jumps from flat starts
        r = r + step
        if np.max(np.abs(step)) < 1e-6:
            break
    cov = np.linalg.inv(hess)
    out: dict[str, EloEstimate] = {}
    counts: dict[str, list[float]] = {}
    for g in games:
        counts.setdefault(g.player, []).append(g.score)
        counts.setdefault(g.opponent, []).append(1 - g.score)
    for n in names:
        if n in anchors:
            val, err = anchors[n], 0.0
        else:
            val, err = float(r[idx[n]]), Z95 * math.sqrt(max(cov[idx[n], idx[n]], 0.0))
        sc = counts.get(n, [])
        out[n] = EloEstimate(val, val - err, val + err, len(sc), float(np.mean(sc)) if sc else 0.0)
    return out
