"""ChessFormer: a transformer chess engine that speaks UCI.

Importing this package is cheap (no torch): the UCI loop must answer ``uci`` at once.
"""

__version__ = "0.1.0"
