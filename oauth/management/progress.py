"""A plain-text progress bar for the operator commands (rotate_keys, revoke_tokens, rewrap_keys)."""

from __future__ import annotations

import time


class ProgressBar:
    """Redraws one line on stderr, at most a few times a second; ``done()`` ends the line."""

    def __init__(self, stream, label: str, width: int = 30):
        self.stream, self.label, self.width = stream, label, width
        self._drawn_at = 0.0

    def update(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._drawn_at < 0.2 and (total is None or done < total):
            return
        self._drawn_at = now
        if total:
            filled = min(self.width, int(self.width * done / total))
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total}", ending="")
        else:
            self.stream.write(f"\r{self.label} {done}", ending="")
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("")
