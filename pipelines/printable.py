"""File names and other outside text made safe to print: control, format and bidirectional characters shown as escapes."""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """text with every control character, line separator and invisible format character (zero-width spaces,
    right-to-left overrides) written as an escape, so a file name cannot break a table's lines or reorder
    what is printed after it."""
    value = "" if text is None else str(text)
    if value.isprintable():
        return value
    return "".join(
        _NAMED.get(ch) or (f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") else ch)
        for ch in value
    )
