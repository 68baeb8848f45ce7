"""Scripted UCI sessions in-process: send a line, expect lines (like python-chess's MockTransport)."""

from __future__ import annotations

import re
import threading
import time

from chessformer.engine.uci import UciEngine


class Session:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._cv = threading.Condition()
        self.engine = UciEngine(self._write)
        self._read = 0

    def _write(self, line: str) -> None:
        assert "\n" not in line
        with self._cv:
            self.lines.append(line)
            self._cv.notify_all()

    def send(self, line: str) -> bool:
        return self.engine.handle(line)

    def expect(self, pattern: str, timeout: float = 10.0) -> str:
        """Wait for the next output line matching ``pattern`` (earlier unread lines are skipped)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                while self._read < len(self.lines):
                    line = self.lines[self._read]
                    self._read += 1
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line matching {pattern!r}; got {self.lines[-10:]}")
                self._cv.wait(left)

    def unread(self) -> list[str]:
        with self._cv:
            out = self.lines[self._read :]
            self._read = len(self.lines)
            return out

    def count(self, prefix: str) -> int:
        with self._cv:
            return sum(1 for line in self.lines if line.startswith(prefix))
