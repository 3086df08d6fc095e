"""The one error type users can cause. The CLI prints it without a traceback and exits 2."""

from __future__ import annotations


class AugplanError(Exception):
    """A problem the user can fix: bad input file, missing model, impossible request.

    The message names the file/line/field and, where it helps, what to do.
    """

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"
