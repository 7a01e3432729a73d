"""A one-line progress bar on stderr (by default only when stderr is a terminal)."""

from __future__ import annotations

import sys


class Progress:
    def __init__(self, label: str, total: int, enabled: bool | None = None, width: int = 30):
        self.label, self.total, self.done, self.width = label, max(total, 1), 0, width
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.enabled:
            filled = self.width * min(self.done, self.total) // self.total
            bar = "#" * filled + "." * (self.width - filled)
            end = "\n" if self.done >= self.total else ""
            sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total}{end}")
            sys.stderr.flush()
