"""duban's data contracts: pandera models, the warehouse DDL and the header synonyms."""

from importlib import resources


def schema_file(name: str) -> str:
    """The text of a file shipped in this package (DDL, synonyms)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
