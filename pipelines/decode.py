"""Turn a raw file's bytes into text, detecting the encoding rather than configuring it."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from pipelines.errors import UndecodableError

# Tried in this order after any byte-order mark; GB18030 is a superset of GBK and GB2312.
CANDIDATE_ENCODINGS = ("utf-8", "gb18030")
# Control characters other than tab and line breaks, and the replacement character.
_SUSPICIOUS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]")


def _looks_like_text(text: str) -> bool:
    """True when decoded text has no NULs and few control or replacement characters."""
    if not text:
        return True
    if "\x00" in text:
        return False
    return len(_SUSPICIOUS.findall(text)) / len(text) < 0.01


def decode_report_bytes(data: bytes, path: Path | str) -> tuple[str, str]:
    """Decode a report's bytes; returns (text, encoding name) or refuses the file."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                break
            if _looks_like_text(text):
                return text, encoding
            break
    for encoding in CANDIDATE_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text, encoding
    tried = ", ".join(("UTF-8 with BOM", "UTF-16 with BOM") + tuple(e.upper() for e in CANDIDATE_ENCODINGS))
    raise UndecodableError(
        path,
        f"the file is not readable text (tried {tried}); "
        "save it as UTF-8 or GB18030 text, or check that it is not a binary file with a text name",
    )
