"""Write openings.pgn and openings.epd next to this file from well-known opening lines.

A small balanced book for matches (bench match --openings, cutechess-cli, fastchess):
each line is a main line of a named opening, 8-10 plies deep. Re-run after editing LINES.
"""

from pathlib import Path

import chess
import chess.pgn

HERE = Path(__file__).resolve().parent
LINES = [
    ("Ruy Lopez, Morphy Defence", "e4 e5 Nf3 Nc6 Bb5 a6 Ba4 Nf6"),
    ("Ruy Lopez, Berlin Defence", "e4 e5 Nf3 Nc6 Bb5 Nf6 O-O Nxe4"),
    ("Italian Game, Giuoco Piano", "e4 e5 Nf3 Nc6 Bc4 Bc5 c3 Nf6"),
    ("Two Knights Defence", "e4 e5 Nf3 Nc6 Bc4 Nf6 d3 Be7"),
    ("Scotch Game", "e4 e5 Nf3 Nc6 d4 exd4 Nxd4 Nf6"),
    ("Petrov Defence", "e4 e5 Nf3 Nf6 Nxe5 d6 Nf3 Nxe4"),
    ("Vienna Game", "e4 e5 Nc3 Nf6 f4 d5 fxe5 Nxe4"),
    ("King's Gambit Accepted", "e4 e5 f4 exf4 Nf3 g5 h4 g4"),
    ("Sicilian, Najdorf", "e4 c5 Nf3 d6 d4 cxd4 Nxd4 Nf6 Nc3 a6"),
    ("Sicilian, Dragon", "e4 c5 Nf3 d6 d4 cxd4 Nxd4 Nf6 Nc3 g6"),
    ("Sicilian, Taimanov", "e4 c5 Nf3 e6 d4 cxd4 Nxd4 Nc6"),
    ("Sicilian, Alapin", "e4 c5 c3 Nf6 e5 Nd5 d4 cxd4"),
    ("French, Winawer", "e4 e6 d4 d5 Nc3 Bb4 e5 c5"),
    ("French, Advance", "e4 e6 d4 d5 e5 c5 c3 Nc6"),
    ("Caro-Kann, Classical", "e4 c6 d4 d5 Nc3 dxe4 Nxe4 Bf5"),
    ("Caro-Kann, Advance", "e4 c6 d4 d5 e5 Bf5 Nf3 e6"),
    ("Scandinavian Defence", "e4 d5 exd5 Qxd5 Nc3 Qa5 d4 Nf6"),
    ("Alekhine Defence", "e4 Nf6 e5 Nd5 d4 d6 Nf3 Bg4"),
    ("Pirc Defence", "e4 d6 d4 Nf6 Nc3 g6 f4 Bg7"),
    ("Queen's Gambit Declined", "d4 d5 c4 e6 Nc3 Nf6 Bg5 Be7"),
    ("Queen's Gambit Accepted", "d4 d5 c4 dxc4 Nf3 Nf6 e3 e6"),
    ("Slav Defence", "d4 d5 c4 c6 Nf3 Nf6 Nc3 dxc4"),
    ("Semi-Slav Defence", "d4 d5 c4 c6 Nc3 Nf6 Nf3 e6"),
    ("London System", "d4 d5 Bf4 Nf6 e3 e6 Nf3 c5"),
    ("King's Indian Defence", "d4 Nf6 c4 g6 Nc3 Bg7 e4 d6"),
    ("Grunfeld Defence", "d4 Nf6 c4 g6 Nc3 d5 cxd5 Nxd5"),
    ("Nimzo-Indian Defence", "d4 Nf6 c4 e6 Nc3 Bb4 e3 O-O"),
    ("Queen's Indian Defence", "d4 Nf6 c4 e6 Nf3 b6 g3 Bb7"),
    ("Benoni Defence", "d4 Nf6 c4 c5 d5 e6 Nc3 exd5"),
    ("Dutch Defence", "d4 f5 g3 Nf6 Bg2 e6 Nf3 Be7"),
    ("English, Symmetrical", "c4 c5 Nc3 Nc6 g3 g6 Bg2 Bg7"),
    ("English, Reversed Sicilian", "c4 e5 Nc3 Nf6 Nf3 Nc6 g3 d5"),
    ("Reti Opening", "Nf3 d5 c4 e6 g3 Nf6 Bg2 Be7"),
    ("King's Indian Attack", "Nf3 d5 g3 Nf6 Bg2 c5 O-O Nc6"),
]


def main() -> None:
    with open(HERE / "openings.pgn", "w") as pgn, open(HERE / "openings.epd", "w") as epd:
        for name, line in LINES:
            board = chess.Board()
            game = chess.pgn.Game()
            game.headers["Event"] = "chessformer openings"
            game.headers["Opening"] = name
            node: chess.pgn.GameNode = game
            for san in line.split():
                move = board.parse_san(san)  # raises on a mistyped line
                node = node.add_variation(move)
                board.push(move)
            print(game, file=pgn, end="\n\n")
            print(f'{board.epd()} c0 "{name}";', file=epd)


if __name__ == "__main__":
    main()
