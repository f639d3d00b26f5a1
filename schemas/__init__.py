"""duban's data contracts: one file per table (tables/) and per view (views/), the tidy record's pandera model, header synonyms and status words."""

from importlib import resources


def schema_file(name: str) -> str:
    """The text of a file shipped in this package (DDL, synonyms)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
