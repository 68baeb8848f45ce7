"""Parsing of the UCI ``go`` command's arguments."""

from __future__ import annotations

from dataclasses import dataclass, field

_INT_FIELDS = ("wtime", "btime", "winc", "binc", "movestogo", "movetime", "depth", "nodes", "mate")
_FLAGS = ("infinite", "ponder")
KEYWORDS = frozenset(_INT_FIELDS + _FLAGS + ("searchmoves",))


@dataclass
class GoParams:
    """What a ``go`` asked for. Times in milliseconds; None when not given."""

    wtime: int | None = None  # white's clock (ms)
    btime: int | None = None  # black's clock (ms)
    winc: int | None = None  # white's increment per move (ms)
    binc: int | None = None  # black's increment per move (ms)
    movestogo: int | None = None  # moves to the next time control (count)
    movetime: int | None = None  # exact time for this move (ms)
    depth: int | None = None  # search depth (plies); this engine always searches depth 1
    nodes: int | None = None  # node budget (count); this engine evaluates a handful of positions
    mate: int | None = None  # mate search (moves); accepted, not searched
    infinite: bool = False  # hold bestmove until stop
    ponder: bool = False  # hold bestmove until ponderhit or stop
    searchmoves: list[str] = field(default_factory=list)  # UCI move strings to choose among
    problems: list[str] = field(default_factory=list)  # unparsable parts, for info string

    @property
    def holds_bestmove(self) -> bool:
        return self.infinite or self.ponder


def parse_go(args: list[str]) -> GoParams:
    """Parse ``go`` arguments in any order; unparsable parts are noted, never fatal."""
    p = GoParams()
    i = 0
    while i < len(args):
        word = args[i].lower()
        if word in _FLAGS:
            setattr(p, word, True)
            i += 1
        elif word in _INT_FIELDS:
            if i + 1 < len(args) and args[i + 1].lstrip("-").isdigit():
                setattr(p, word, int(args[i + 1]))
                i += 2
            else:
                p.problems.append(f"go {word} needs an integer")
                i += 1
        elif word == "searchmoves":
            i += 1
            while i < len(args) and args[i].lower() not in KEYWORDS:
                p.searchmoves.append(args[i])
                i += 1
        else:
            p.problems.append(f"go: unknown token {args[i][:40]!r} ignored")
            i += 1
    return p
