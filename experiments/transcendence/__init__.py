"""The transcendence experiment (REPORT.md): noisy experts, their games, models trained on them.

Importing the package registers the ``noisy:`` engine spec with bench (noisy_engine.py).
"""

from experiments.transcendence import noisy_engine as _noisy_engine  # noqa: F401 - registers noisy:
