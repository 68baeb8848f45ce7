"""Game filters for ``prepare``: each has a name, and the manifest counts what it removed."""

from __future__ import annotations

from dataclasses import dataclass

# lichess's rule: estimated duration = base + 40 * increment (seconds)
TIME_CLASSES = ("ultrabullet", "bullet", "blitz", "rapid", "classical", "correspondence", "unknown")


def time_control_class(tc: str | None) -> str:
    """lichess's speed class of a PGN TimeControl value ("300+3", "-", "1/259200", ...)."""
    if not tc or tc == "?":
        return "unknown"
    if tc == "-" or "/" in tc:
        return "correspondence"
    base, _, inc = tc.partition("+")
    try:
        total = int(base) + 40 * int(inc or 0)
    except ValueError:
        return "unknown"
    if total < 29:
        return "ultrabullet"
    if total < 179:
        return "bullet"
    if total < 479:
        return "blitz"
    if total < 1499:
        return "rapid"
    return "classical"


def parse_elo(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        v = int(value)
    except ValueError:
        return None
    return v if 0 < v < 5000 else None


@dataclass(frozen=True)
class FilterConfig:
    """Which games ``prepare`` keeps."""

    max_elo: int | None = None  # both players rated at most this (Elo); None: no cap
    min_elo: int | None = None  # both players rated at least this (Elo)
    time_classes: tuple[str, ...] = ()  # keep only these speed classes; empty: all
    rated_only: bool = False  # both ratings known and the event not casual/unrated
    standard_only: bool = True  # Variant header absent or Standard (FEN set-ups are kept)
    min_plies: int = 2  # shorter games are dropped (plies)
    no_bots: bool = True  # drop games with a BOT title or a bot event
    dedup: bool = True  # drop repeated games (by site id, else players + moves)
    players: tuple[str, ...] = ()  # keep only games whose White and Black are both named here; empty: all


def header_rejection(h: dict[str, str], cfg: FilterConfig) -> str | None:
    """The name of the first header-level filter that rejects a game, or None."""
    if "_bad_header" in h and not any(k in h for k in ("White", "Black", "Result")):
        return "broken_headers"
    variant = h.get("Variant", "Standard").lower()
    if cfg.standard_only and variant not in ("standard", "from position", "chess"):
        return "variant"
    if h.get("Result", "*") not in ("1-0", "0-1", "1/2-1/2"):
        return "unfinished"
    if cfg.players and (h.get("White") not in cfg.players or h.get("Black") not in cfg.players):
        return "players"
    if cfg.no_bots and (
        h.get("WhiteTitle") == "BOT" or h.get("BlackTitle") == "BOT" or "bot" in h.get("Event", "").lower().split()
    ):
        return "bot"
    we, be = parse_elo(h.get("WhiteElo")), parse_elo(h.get("BlackElo"))
    if cfg.rated_only:
        event = h.get("Event", "").lower()
        if we is None or be is None or "casual" in event or "unrated" in event:
            return "unrated"
    if cfg.max_elo is not None and (we is None or be is None or max(we, be) > cfg.max_elo):
        return "max_elo"
    if cfg.min_elo is not None and (we is None or be is None or min(we, be) < cfg.min_elo):
        return "min_elo"
    if cfg.time_classes and time_control_class(h.get("TimeControl")) not in cfg.time_classes:
        return "time_control"
    return None
