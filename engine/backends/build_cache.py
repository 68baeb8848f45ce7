"""Where backends keep what they build once per machine: compiled C steps, TensorRT plans.

``CHESSFORMER_CACHE`` if set, else ``$XDG_CACHE_HOME/chessformer``, else ``~/.cache/chessformer``.
"""

from __future__ import annotations

import os
from pathlib import Path


def build_cache_root() -> Path:
    explicit = os.environ.get("CHESSFORMER_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "chessformer"
