"""``python -m engine``: the UCI engine, same as the ``chessformer`` command."""

import sys

from engine.uci import main

sys.exit(main())
