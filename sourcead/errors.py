"""The one exception sourcead raises for programs it cannot differentiate."""

from __future__ import annotations


class SourceADError(Exception):
    """A construct sourcead cannot differentiate, reported at the user's file and line.

    Attributes:
        filename: the file holding the offending code (None when unknown).
        lineno: the 1-based line in that file (None when unknown).
    """

    def __init__(self, message: str, filename: str | None = None, lineno: int | None = None):
        self.message = message
        self.filename = filename
        self.lineno = lineno
        where = ""
        if filename is not None:
            where = f"{filename}, line {lineno}: " if lineno is not None else f"{filename}: "
        super().__init__(where + message)
