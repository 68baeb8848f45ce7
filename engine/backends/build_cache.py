"""Where backends keep what they build or measure once per machine: compiled C steps, TensorRT
plans, the matmul precision probe's answer.

``CHESSFORMER_CACHE`` if set, else ``$XDG_CACHE_HOME/chessformer``, else ``~/.cache/chessformer``.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def build_cache_root() -> Path:
    explicit = os.environ.get("CHESSFORMER_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "chessformer"


def cpu_model() -> str:
    """This machine's CPU, as a cache key: /proc/cpuinfo's first model-name (x86) or flags line."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()
