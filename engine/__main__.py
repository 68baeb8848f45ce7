"""``python -m chessformer.engine``: the UCI engine, same as the ``chessformer`` command."""

import sys

from chessformer.engine.uci import main

sys.exit(main())
