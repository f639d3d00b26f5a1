"""A DuckLake target: catalog in PostgreSQL (or a local file), data as Parquet files; one build = one snapshot.

Many builds may write at once. Each build's load runs in one DuckLake transaction that also writes the key
counters in duban_meta, so two builds that overlap always conflict at commit: the later one is rolled back
whole and run again on the new snapshot (bounded back-off), never half-applied. Readers see committed
snapshots only, so nothing is copied or published.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Callable

import duckdb

from pipelines.checks import failed_row_checks
from pipelines.contracts import identifier, sequences
from pipelines.errors import DubanError
from pipelines.faults import hold_point
from pipelines.load import build_wide, ensure_schema, set_meta
from pipelines.targets.base import Say, T, Target

ALIAS = "lake"
POLL_SECONDS = 2.0  # how often version() asks a catalog in PostgreSQL for its latest snapshot
OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
REMOTE = ("s3://", "s3a://", "gs://", "gcs://", "r2://", "http://", "https://")  # what httpfs reaches
# the S3 secret's settings and the environment variables they come from (AWS's names where they exist)
S3_SECRET = {
    "KEY_ID": ("AWS_ACCESS_KEY_ID",),
    "SECRET": ("AWS_SECRET_ACCESS_KEY",),
    "SESSION_TOKEN": ("AWS_SESSION_TOKEN",),
    "REGION": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "ENDPOINT": ("DUBAN_S3_ENDPOINT",),  # an S3-compatible store, e.g. minio.example:9000
    "URL_STYLE": ("DUBAN_S3_URL_STYLE",),  # path, for most S3-compatible stores
    "USE_SSL": ("DUBAN_S3_USE_SSL",),  # false for a plain-http endpoint
}


class LakeError(DubanError):
    """A DuckLake that cannot be opened or written."""


class LakeConflict(LakeError):
    """Other writers kept committing first: the build gave up after its retries, having committed nothing."""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def secrets_in(spec: str) -> list[str]:
    """The passwords written in a conninfo (password=…, quoted or not) or a URI (user:password@host), longest first."""
    found = []
    for match in re.finditer(r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]+)", spec):
        found += [match.group(1), match.group(1).strip("'")]
    found += [m.group(1) for m in re.finditer(r"://[^:/@\s]*:([^@\s]+)@", spec)]
    return sorted({s for s in found if s}, key=len, reverse=True)


def redacted(text: str, secrets: list[str]) -> str:
    """text with every one of the secrets replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def retry_settings() -> tuple[int, float, float]:
    """(attempts, first wait in seconds, longest wait) from DUBAN_LAKE_RETRIES (8), DUBAN_LAKE_RETRY_SECONDS (0.2, doubling up to 5)."""
    from pipelines.errors import ConfigurationError
    from pipelines.settings import whole_number

    attempts = whole_number("DUBAN_LAKE_RETRIES", 8)
    text = os.environ.get("DUBAN_LAKE_RETRY_SECONDS", "").strip() or "0.2"
    try:
        first = float(text)
    except ValueError:
        first = -1.0
    if not 0 < first <= 60:
        raise ConfigurationError(f"DUBAN_LAKE_RETRY_SECONDS must be a number of seconds above 0 and at most 60, not {text!r}")
    return attempts, first, 5.0


def is_conflict(error: BaseException) -> bool:
    """Whether a DuckDB error says another transaction committed conflicting changes first."""
    text = str(error).lower()
    return isinstance(error, duckdb.TransactionException) or "conflict" in text


def load_extensions(con: duckdb.DuckDBPyConnection, postgres: bool, remote: bool, folder: Path) -> None:
    """LOAD ducklake (and postgres, httpfs when needed) from their wheels; nothing is downloaded."""
    from pipelines.pg_endpoint import load_postgres_extension
    from pipelines.serve import extension_file

    if postgres:
        load_postgres_extension(con, folder)
    if remote:
        con.execute(f"LOAD {_literal(str(extension_file('httpfs')))}")
    con.execute(f"LOAD {_literal(str(extension_file('ducklake')))}")


def s3_secret(con: duckdb.DuckDBPyConnection) -> bool:
    """Give the connection a temporary S3 secret from AWS_ACCESS_KEY_ID & co. (DUBAN_S3_* for S3-compatible
    stores); False when no key is set (public buckets, or credentials DuckDB finds by itself)."""
    values = {}
    for setting, names in S3_SECRET.items():
        value = next((os.environ[n] for n in names if os.environ.get(n, "").strip()), None)
        if value is not None:
            values[setting] = value.strip()
    if "KEY_ID" not in values:
        return False
    if "USE_SSL" in values:
        values["USE_SSL"] = "true" if values["USE_SSL"].lower() in ("1", "true", "yes", "on") else "false"
    options = ", ".join(f"{k} {v if k == 'USE_SSL' else _literal(v)}" for k, v in values.items())
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET duban_s3 (TYPE s3, {options})")
    return True


class LakeTarget(Target):
    """`ducklake:postgres:<conninfo>` or `ducklake:<path>.ducklake`, with the Parquet files under data_path."""

    is_lake = True

    def __init__(self, spec: str, data_path: str | None = None):
        self.secrets = secrets_in(spec)
        rest = spec.removeprefix("ducklake:")
        self.postgres = rest.startswith("postgres:")
        if self.postgres:
            self.attach_spec = spec
            home = Path("warehouse").resolve()
        elif rest.endswith(".ducklake") and rest.strip() != ".ducklake":
            path = Path(rest).resolve()
            self.attach_spec = f"ducklake:{path}"
            home = path.parent
        else:  # a typo must not become a local catalog file named after the connection string
            raise LakeError(
                f"{redacted(spec, self.secrets)!r} is not a DuckLake duban knows: give ducklake:postgres:<conninfo> "
                "(catalog in PostgreSQL) or ducklake:<path>.ducklake (catalog in a local file)")
        self.spec = spec
        self.label = redacted(self.attach_spec, self.secrets)
        self.data_path = self._data_path(data_path)
        digest = hashlib.sha256(self.attach_spec.encode("utf-8")).hexdigest()[:12]
        self.work_dir = home / ".work" / f"lake-{digest}"
        self.output_dir = home
        self.conflicts = 0  # commits retried by the last write
        self._asked_at, self._seen_stamp, self._seen_version = -POLL_SECONDS, None, None  # version()'s memory

    @staticmethod
    def _data_path(data_path: str | None) -> str | None:
        if not data_path:
            return None
        if data_path.startswith(REMOTE):
            return data_path if data_path.endswith("/") else data_path + "/"
        if re.match(r"^[a-z][a-z0-9+.-]+://", data_path):
            raise LakeError(f"--data-path {data_path.split('://')[0]}:// is not supported; give a folder, or an "
                            f"{', '.join(REMOTE[:5])} or http(s):// URL")
        folder = Path(data_path).resolve()
        return str(folder) + "/"

    def _extensions(self, con: duckdb.DuckDBPyConnection) -> None:
        """What con needs to reach the lake: the extensions from their wheels, and S3 credentials for remote data."""
        remote = bool(self.data_path and self.data_path.startswith(REMOTE))
        load_extensions(con, self.postgres, remote, self.work_dir / "extensions")
        if remote:
            s3_secret(con)

    def attach(self, con: duckdb.DuckDBPyConnection, alias: str) -> None:
        """Pinned to the latest snapshot, so a copy made table by table never mixes two builds' commits."""
        version = self.version()
        self._extensions(con)
        pinned = f", SNAPSHOT_VERSION {int(version)}" if version is not None else ""
        try:
            con.execute(f"ATTACH {_literal(self.attach_spec)} AS {alias} (READ_ONLY{pinned})")
        except duckdb.Error as error:
            raise LakeError(f"cannot open the DuckLake {self.label} ({redacted(str(error).strip(), self.secrets)})") from None

    def connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """A connection with the lake attached as `lake` and in use (tables and views resolve unqualified).

        Waited for and tried again (the lake retry settings): a local catalog file another process holds, for a
        reader (a writer's wait is write()'s, which says so); and a new catalog in PostgreSQL that another
        process is creating at the same moment (DuckLake's first ATTACH creates its tables without a lock)."""
        attempts, wait, longest = retry_settings()
        for _ in range(attempts - 1):
            try:
                return self._connect_once(read_only)
            except LakeError as error:
                if not self._worth_waiting(str(error).lower(), read_only):
                    raise
            time.sleep(min(wait, longest) * random.uniform(0.5, 1.5))
            wait *= 2
        return self._connect_once(read_only)

    def _worth_waiting(self, error: str, read_only: bool) -> bool:
        if self.postgres:
            return "failed to initialize ducklake" in error and ("duplicate key" in error or "already exists" in error)
        return read_only and "could not set lock" in error

    def _connect_once(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config=OFFLINE)
        try:
            self._extensions(con)
            options = ["READ_ONLY"] if read_only else []
            if self.data_path and not read_only:
                if not self.data_path.startswith(REMOTE):
                    try:
                        Path(self.data_path).mkdir(parents=True, exist_ok=True)
                    except OSError as error:
                        raise LakeError(f"cannot use {self.data_path} as the DuckLake's data folder "
                                        f"({error.strerror or error}); give --data-path a folder duban may create and write") from None
                options.append(f"DATA_PATH {_literal(self.data_path)}")
            suffix = f" ({', '.join(options)})" if options else ""
            con.execute(f"ATTACH {_literal(self.attach_spec)} AS {ALIAS}{suffix}")
            con.execute(f"USE {ALIAS}")
        except LakeError:
            con.close()
            raise
        except duckdb.Error as error:
            con.close()
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            reason = redacted(reason, self.secrets)  # DuckDB quotes the whole conninfo, password and all
            hint = (
                "check the conninfo and that PostgreSQL accepts connections" if self.postgres
                else "check the path of the .ducklake file"
            )
            if "does not match" in reason.lower():
                hint = "give the data path this lake was made with, or leave --data-path out (the catalog knows it)"
            elif "data_path" in reason.lower() or "data path" in reason.lower():
                hint = "a new DuckLake needs --data-path DIR (or DUBAN_DATA_PATH) for its Parquet files"
            elif "could not set lock" in reason.lower():
                hint = ("another process holds the local catalog file; a .ducklake catalog takes one process at a "
                        "time — close it, or use a catalog in PostgreSQL for many")
            raise LakeError(f"cannot open the DuckLake {self.label} ({reason}); {hint}") from None
        return con

    def exists(self) -> bool:
        try:
            con = self.connect(read_only=True)
        except LakeError:
            return False
        with con:
            return bool(con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'dim_report'", [ALIAS]
            ).fetchone()[0])

    def check_readable(self) -> None:
        """Raise LakeError when the catalog cannot be opened for writing (a new one is created, given a data path)."""
        self.connect(read_only=False).close()

    def read(self, config: dict | None = None) -> duckdb.DuckDBPyConnection:
        """Read-only: the lake attached READ_ONLY, then config applied and, if asked, locked (as `duban sql` wants)."""
        if not self.exists():
            raise LakeError(f"no duban warehouse in the DuckLake {self.label}; run `duban build --warehouse …` first")
        con = self.connect(read_only=True)
        settings = dict(config or {})
        lock = settings.pop("lock_configuration", False)
        if settings.get("enable_external_access") is False:  # the lake's own files stay readable, at every snapshot
            (folder,) = con.execute(f"SELECT value FROM {ALIAS}.options() WHERE option_name = 'data_path'").fetchone()
            con.execute("SET allowed_directories = ?", [[folder]])
        for key, value in settings.items():
            if key in OFFLINE:
                continue
            con.execute(f"SET {key} = {_literal(str(value)) if isinstance(value, str) else str(value).lower()}")
        if lock:
            con.execute("SET lock_configuration = true")
        return con

    def build_lock(self, say: Say):
        """PostgreSQL catalog: none (overlapping commits conflict and are retried); a local catalog file takes one
        process at a time, so builds on this host take turns."""
        if not self.postgres:
            from pipelines.lock import build_lock

            return build_lock(self.work_dir, say)
        return nullcontext()

    def published_at(self):
        """When the lake's latest snapshot was committed."""
        with self.connect(read_only=True) as con:
            return con.execute(f"SELECT max(snapshot_time) FROM {ALIAS}.snapshots()").fetchone()[0]

    def version(self) -> object:
        """The id of the lake's latest snapshot (None when out of reach).

        Serving endpoints call this every half second, and each ask opens a connection and loads two
        extensions: a catalog in PostgreSQL is asked at most every POLL_SECONDS, and a local catalog file
        (which makes writers wait while it is open) only when it or its WAL changed since the last ask.
        """
        stamp = None
        if self.postgres:
            if time.monotonic() - self._asked_at < POLL_SECONDS:
                return self._seen_version
            self._asked_at = time.monotonic()
        else:
            path = Path(self.attach_spec.removeprefix("ducklake:"))
            stamp = tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None
                          for f in (path, path.with_name(path.name + ".wal")))
            if stamp == self._seen_stamp:
                return self._seen_version
        try:
            with self.connect(read_only=True) as con:
                latest = con.execute(f"SELECT max(snapshot_id) FROM {ALIAS}.snapshots()").fetchone()[0]
        except LakeError:
            return None
        self._seen_stamp, self._seen_version = stamp, latest
        return latest

    def manifest_path(self, raw_dir: Path) -> Path:
        """One manifest per raw folder: builds of different folders share the work folder."""
        return self.work_dir / f"raw-manifest-{hashlib.sha256(str(raw_dir).encode()).hexdigest()[:12]}"

    def write(self, body: Callable[[duckdb.DuckDBPyConnection], T], say: Say, message: dict[str, Any],
              publishing: Callable[[], AbstractContextManager] = nullcontext) -> T:
        """Run body in one DuckLake transaction and commit it as one snapshot; on a conflict, roll back and run it again."""
        attempts, wait, longest = retry_settings()
        self.conflicts = 0
        for attempt in range(1, attempts + 1):
            try:
                con = self.connect(read_only=False)
            except LakeError as error:  # a local catalog file held by another process: its turn comes
                if "could not set lock" not in str(error).lower() or attempt == attempts:
                    raise
                reason = "the local catalog file is held by another process"
            else:
                try:
                    con.execute("BEGIN TRANSACTION")
                    ensure_schema(con, lake=True)
                    _open_sequences(con)
                    with build_wide(con, _verify_checks):
                        result = body(con)
                    _save_sequences(con, message)
                    con.execute(
                        f"CALL {ALIAS}.set_commit_message('duban', ?, extra_info => ?)",
                        [commit_text(message), json.dumps(message, ensure_ascii=False, default=str)],
                    )
                    hold_point("lake-commit")  # tests: another writer commits meanwhile
                    with publishing():
                        con.execute("COMMIT")
                    return result
                except duckdb.Error as error:
                    if not is_conflict(error):
                        if any(secret in str(error) for secret in self.secrets):
                            raise LakeError(redacted(str(error).strip(), self.secrets)) from None
                        raise
                    reason = redacted(str(error).strip().splitlines()[0], self.secrets)
                finally:
                    con.close()
            if attempt == attempts:
                break
            self.conflicts += 1
            pause = min(wait, longest) * random.uniform(0.5, 1.5)
            say(
                f"duban: another writer committed to the DuckLake first ({reason}); nothing of this build was "
                f"committed; retrying in {pause:.1f} s (attempt {attempt + 1} of {attempts})"
            )
            time.sleep(pause)
            wait *= 2
        raise LakeConflict(
            f"other writers kept committing to the DuckLake {self.label} first; gave up after {attempts} "
            f"attempt{'s' if attempts != 1 else ''} "
            "with nothing of this build committed; run the build again (DUBAN_LAKE_RETRIES raises the attempts)"
        )


def commit_text(message: dict[str, Any]) -> str:
    """The snapshot's commit message: the run and how many reports it covers (or the message's own text)."""
    if message.get("text"):
        return message["text"]
    reports = message.get("reports") or []
    shown = ", ".join(reports[:5]) + (f" and {len(reports) - 5} more" if len(reports) > 5 else "")
    return f"duban build, run {message.get('run_id') or '?'}: periods {', '.join(message.get('periods') or [])}; reports {shown or 'none'}"


def _open_sequences(con: duckdb.DuckDBPyConnection) -> None:
    """Temporary key sequences that go on from the counters the lake keeps in duban_meta (a DuckLake has no sequences)."""
    held = dict(con.execute("SELECT key, value FROM duban_meta WHERE key LIKE 'sequence:%'").fetchall())
    for name in sequences():
        last = int(held.get(f"sequence:{name}", 0))
        con.execute(f"CREATE OR REPLACE TEMP SEQUENCE {identifier(name)} START {last + 1}")


def _save_sequences(con: duckdb.DuckDBPyConnection, message: dict[str, Any]) -> None:
    """Write the counters back, and the build's note: every build deletes from duban_meta, so overlapping builds conflict."""
    wanted = set(sequences())
    for name, last in con.execute(
        "SELECT sequence_name, last_value FROM duckdb_sequences() WHERE temporary"
    ).fetchall():
        if name in wanted and last is not None:
            set_meta(con, f"sequence:{name}", str(last))
    set_meta(con, "last_build", json.dumps(message, ensure_ascii=False, default=str))


def _verify_checks(con: duckdb.DuckDBPyConnection) -> None:
    """The contracts' CHECKs, which a DuckLake cannot declare: a broken one refuses the write."""
    broken = failed_row_checks(con)
    if broken:
        raise duckdb.ConstraintException("; ".join(broken))
