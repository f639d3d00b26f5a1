"""The pipeline version: a fingerprint of the code and contracts that shape the warehouse's rows."""

from __future__ import annotations

import ast
import hashlib
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where rows are shaped: reading, reshaping, normalising, validating, staging and loading.
DATA_ROOTS = ["pipelines.process", "pipelines.table_rows", "pipelines.period_load", "pipelines.reports", "pipelines.staging"]
# Files that shape rows besides the table contracts and view files, which count without their descriptions
# (tables_ddl, rows_shape, the views' queries): descriptions, like catalog.toml, are re-applied on their own.
DATA_FILES = ["header_synonyms.toml", "status_words.toml"]


def _module_path(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] not in ("pipelines", "schemas"):
        return None
    path = ROOT.joinpath(*parts).with_suffix(".py")
    return path if path.exists() else None


def _imports(path: Path) -> set[str]:
    """Project modules a file imports (at any depth of the file: functions import lazily too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if _module_path(name)}


def data_modules() -> list[Path]:
    """Every project module the data roots import, directly or not."""
    seen: dict[str, Path] = {}
    todo = list(DATA_ROOTS)
    while todo:
        name = todo.pop()
        path = _module_path(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo.extend(_imports(path))
    return sorted(seen.values())


# The last version computed, beside Python's own byte-code cache: (digest of the sources, version).
VERSION_CACHE = ROOT / "pipelines" / "__pycache__" / "pipeline_version.txt"


def _add_files(digest, paths: list[Path]) -> None:
    """Feed each file's place in the project and its bytes to digest."""
    for path in paths:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")


def source_digest() -> str:
    """A sha256 of every file under pipelines/ and schemas/ (byte-code caches aside): the version changes only if it does."""
    digest = hashlib.sha256()
    for top in ("pipelines", "schemas"):
        _add_files(digest, [p for p in sorted((ROOT / top).rglob("*")) if "__pycache__" not in p.parts and p.is_file()])
    return digest.hexdigest()


def computed_pipeline_version() -> str:
    """The pipeline version worked out from the code: the data modules' sources, the row-shaping files and the contracts."""
    digest = hashlib.sha256()
    _add_files(digest, data_modules() + [ROOT / "schemas" / name for name in DATA_FILES])
    from pipelines.contracts import rows_shape, tables_ddl  # tables, staged checks and views, not descriptions
    from pipelines.views import view_files

    queries = "".join(f"{v.name}\0{v.query}\0" for v in view_files())  # the order follows from the queries
    digest.update(f"{tables_ddl()}\0{rows_shape()}\0{queries}".encode("utf-8"))
    return digest.hexdigest()[:16]


@cache
def pipeline_version() -> str:
    """16 hex digits that change whenever code or contracts that shape rows change (not for the CLI, serving or comments).

    Working it out parses the data modules and loads the contracts (about 0.2 s); it is kept with a digest
    of every source file and taken from there while no file under pipelines/ or schemas/ changed (13 ms).
    """
    try:
        sources = source_digest()
    except OSError:  # a stray unreadable file: no cache, the version is worked out as before
        return computed_pipeline_version()
    try:
        kept_sources, kept_version = VERSION_CACHE.read_text(encoding="ascii").split()
        if kept_sources == sources and re.fullmatch(r"[0-9a-f]{16}", kept_version):
            return kept_version
    except (OSError, ValueError):
        pass  # none kept yet, unreadable, or damaged: work it out
    version = computed_pipeline_version()
    try:
        if source_digest() == sources:  # no file changed while it was worked out (a checkout meanwhile)
            from pipelines.atomic import write_text_atomic

            VERSION_CACHE.parent.mkdir(exist_ok=True)
            write_text_atomic(VERSION_CACHE, f"{sources} {version}\n", durable=False)
    except OSError:
        pass  # a read-only installation works it out each time
    return version
