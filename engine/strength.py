"""Strength control: UCI_LimitStrength / UCI_Elo from a measured calibration table.

A model's weights may carry ``metadata["strength_calibration"]``, written by ``python -m
bench calibrate``: a grid of settings (the rating the model is conditioned on, and the
temperature), each with the Elo it was measured at on the paper's scale (Stockfish 15.1
Skill Levels at 0.1 s a move, anchored as in ../shared/PAPER.md) and its 95% interval. A
request for an Elo picks the setting from that table: between two measured points on the same
conditioning rating the temperature is interpolated linearly in Elo; between points of
different ratings the nearer point is played. Requests outside the measured range are
clamped to its end (and the engine says so). Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

METADATA_KEY = "strength_calibration"


@dataclass(frozen=True)
class StrengthPoint:
    """One measured setting."""

    elo: float  # measured rating on the table's scale (Elo)
    low: float  # 95% interval, low end (Elo)
    high: float  # 95% interval, high end (Elo)
    rating: int  # the Rating option the model played as (0: unconditioned)
    scale: str  # the RatingScale of ``rating``
    temperature: float  # the Temperature it played at
    games: int  # games the measurement rests on (count)


@dataclass(frozen=True)
class StrengthSetting:
    """What the engine plays with for a requested Elo."""

    rating: int
    scale: str
    temperature: float
    expected_elo: float  # the table's Elo for this setting (interpolated)
    clamped: bool  # the request was outside the measured range

    def describe(self, requested: int) -> str:
        where = f" (clamped: the table covers {self.expected_elo:.0f})" if self.clamped else ""
        return (
            f"UCI_Elo {requested}: Rating {self.rating} {self.scale}, Temperature {self.temperature:.3g},"
            f" calibrated {self.expected_elo:.0f}{where}"
        )


@dataclass(frozen=True)
class Calibration:
    """A model's table: points sorted by Elo, and what scale they are on."""

    points: tuple[StrengthPoint, ...]
    scale_note: str  # the anchors, the time per move, where the scale stops being measured

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a strength calibration needs at least one point")
        elos = [p.elo for p in self.points]
        if elos != sorted(elos):
            raise ValueError("strength calibration points must be sorted by Elo")

    @property
    def elo_range(self) -> tuple[int, int]:
        return round(self.points[0].elo), round(self.points[-1].elo)

    def setting_for(self, elo: float) -> StrengthSetting:
        """The setting to play at ``elo``: interpolated between neighbours, clamped at the ends."""
        pts = self.points
        if elo <= pts[0].elo or elo >= pts[-1].elo:
            p = pts[0] if elo <= pts[0].elo else pts[-1]
            return StrengthSetting(p.rating, p.scale, p.temperature, p.elo, clamped=elo != p.elo)
        hi = next(i for i, p in enumerate(pts) if p.elo >= elo)
        a, b = pts[hi - 1], pts[hi]
        if b.elo == elo:  # a measured point: its own setting
            return StrengthSetting(b.rating, b.scale, b.temperature, b.elo, clamped=False)
        if (a.rating, a.scale) == (b.rating, b.scale) and b.elo > a.elo:
            f = (elo - a.elo) / (b.elo - a.elo)
            t = a.temperature + f * (b.temperature - a.temperature)
            return StrengthSetting(a.rating, a.scale, t, elo, clamped=False)
        p = a if elo - a.elo <= b.elo - elo else b
        return StrengthSetting(p.rating, p.scale, p.temperature, p.elo, clamped=False)

    def to_metadata(self) -> dict[str, Any]:
        return {"scale": self.scale_note, "points": [asdict(p) for p in self.points]}

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> Calibration | None:
        """The table in a weights file's metadata, or None if it has none; ValueError if malformed."""
        raw = meta.get(METADATA_KEY)
        if raw is None:
            return None
        try:
            points = tuple(sorted((StrengthPoint(**p) for p in raw["points"]), key=lambda p: p.elo))
            return cls(points, str(raw.get("scale", "")))
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed {METADATA_KEY} in the weights metadata: {e}") from None
