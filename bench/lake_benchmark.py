"""DuckLake on PostgreSQL against the DuckDB file: one generated corpus built (a) into the DuckDB file,
(b) into DuckLake with a PostgreSQL catalog by one writer, (c) into another such lake by N writers at once
(the corpus split by publisher into N raw folders, one `duban build` process each with its own
DAGSTER_HOME); then one added quarter on (a) and on (b). Reports wall time, peak memory, the commits
the builds retried after a conflict, and checks that (a), (b) and (c) hold the same facts.

The PostgreSQL server is a throw-away one on a free loopback port, stopped at the end (killed if it
does not stop).

    python -m bench.lake_benchmark [--publishers 300] [--years 10] [--writers 4] [--work DIR] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench.generate_corpus import generate, write_publisher
from bench.run_benchmark import DUBAN, machine

START_YEAR = 2015


def _say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Build:
    """One finished `duban build --json` process."""

    seconds: float
    peak_bytes: int
    retries: int
    document: dict


def start_build(raw: Path, warehouse: str, home: Path, data_path: Path | None) -> subprocess.Popen:
    """Start `duban build --json` on raw into warehouse, with its own DAGSTER_HOME; stdout and stderr to files."""
    home.mkdir(parents=True, exist_ok=True)
    args = [str(DUBAN), "build", "--json", "--raw", str(raw), "--warehouse", warehouse]
    if data_path is not None:
        args += ["--data-path", str(data_path)]
    with open(home / "stdout.json", "wb") as out, open(home / "stderr.txt", "wb") as err:
        return subprocess.Popen(args, stdout=out, stderr=err, env={**os.environ, "DAGSTER_HOME": str(home)},
                                cwd=home.parent)


def wait_builds(procs: list[tuple[subprocess.Popen, Path]], started: float) -> tuple[float, list[Build]]:
    """Wait for every build (reaping each with wait4 for its own peak RSS, children included); returns
    (wall seconds from started until the last exits, the builds in the order given)."""
    pending = {proc.pid: (i, proc, home) for i, (proc, home) in enumerate(procs)}
    done: dict[int, Build] = {}
    try:
        _reap(pending, done, started)
    finally:
        for _, proc, _ in pending.values():  # a build failed, or the benchmark was interrupted: stop the others
            proc.kill()
            proc.wait()
    wall = max(b.seconds for b in done.values())
    return wall, [done[i] for i in range(len(procs))]


def _reap(pending: dict[int, tuple[int, subprocess.Popen, Path]], done: dict[int, "Build"], started: float) -> None:
    while pending:
        for pid in list(pending):
            reaped, status, usage = os.wait4(pid, os.WNOHANG)
            if reaped:
                break
        else:
            time.sleep(0.1)
            continue
        i, proc, home = pending.pop(pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        text = (home / "stdout.json").read_text(encoding="utf-8")
        if proc.returncode != 0:
            raise RuntimeError(f"duban build failed ({proc.returncode}) in {home}:\n{text[-2000:]}\n"
                               f"{(home / 'stderr.txt').read_text(errors='replace')[-2000:]}")
        document = json.loads(text)
        done[i] = Build(seconds, usage.ru_maxrss * 1024, int(document.get("lake_commit_retries") or 0), document)


def run_build(raw: Path, warehouse: str, home: Path, data_path: Path | None = None) -> Build:
    """One `duban build` process, waited for."""
    started = time.perf_counter()
    _, (build,) = wait_builds([(start_build(raw, warehouse, home, data_path), home)], started)
    return build


def split_by_publisher(corpus: Path, out: Path, writers: int) -> list[Path]:
    """Hard-link the corpus's publisher folders round-robin into `writers` raw folders; returns them."""
    shutil.rmtree(out, ignore_errors=True)
    folders = [out / f"writer{i}" for i in range(writers)]
    for folder in folders:
        folder.mkdir(parents=True)
    for n, publisher in enumerate(sorted(p for p in corpus.iterdir() if p.is_dir())):
        target = folders[n % writers] / publisher.name
        target.mkdir()
        for path in publisher.iterdir():
            os.link(path, target / path.name)
    return folders


def facts(warehouse: str, data_path: Path | None) -> tuple[int, int]:
    """(facts, loaded reports) in the warehouse, read through duban's own target."""
    from pipelines.targets import target_for

    with target_for(warehouse, str(data_path) if data_path else None).read() as con:
        fact_count = con.execute("SELECT count(*) FROM fact_target_progress").fetchone()[0]
        reports = con.execute("SELECT count(*) FROM dim_report WHERE status = 'loaded'").fetchone()[0]
    return fact_count, reports


class Server:
    """A throw-away PostgreSQL server on a free loopback port (pipelines.pg_server), one database per lake."""

    def __init__(self, root: Path):
        from pipelines.pg_server import PgServer

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.root = root
        self.server = PgServer.start(root / "pg", "127.0.0.1", port)

    def new_lake(self, name: str) -> tuple[str, Path]:
        """A fresh catalog database: (the --warehouse setting, the --data-path folder)."""
        from pipelines.pg_server import OWNER, bindir

        subprocess.run(
            [str(bindir() / "createdb"), "-h", str(self.server.folder), "-p", str(self.server.port), "-U", OWNER, name],
            check=True, capture_output=True, timeout=60,
        )
        return f"ducklake:postgres:{self.server.admin_dsn(name)}", self.root / f"{name}-data"

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            if self.server.proc.poll() is None:
                self.server.proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishers", type=int, default=300)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--work", type=Path, default=Path("/tmp/duban-bench"))
    parser.add_argument("--output", type=Path, default=None, help="Markdown report (default WORK/LAKE.md)")
    args = parser.parse_args(argv)
    work = args.work
    output = args.output or work / "LAKE.md"
    load_at_start = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    corpus = work / f"corpus-{args.publishers}x{args.years}"
    if not corpus.exists():
        _say(f"generating {args.publishers} × {args.years} × 4 reports under {corpus} …")
        generate(corpus, args.publishers, args.years)
    files = sum(1 for p in corpus.rglob("*") if p.is_file())
    lake_root = work / "lake"
    shutil.rmtree(lake_root, ignore_errors=True)
    lake_root.mkdir(parents=True)

    _say(f"(a) DuckDB file, {files} reports …")
    file_warehouse = str(lake_root / "a" / "w" / "duban.duckdb")
    a = run_build(corpus, file_warehouse, lake_root / "a" / "home")
    _say(f"  {a.seconds:.1f} s, peak {a.peak_bytes / 2**30:.2f} GiB")

    server = Server(lake_root)
    try:
        lake_b, data_b = server.new_lake("lake_one")
        _say("(b) DuckLake on PostgreSQL, one writer …")
        b = run_build(corpus, lake_b, lake_root / "b" / "home", data_b)
        _say(f"  {b.seconds:.1f} s, peak {b.peak_bytes / 2**30:.2f} GiB, {b.retries} retried commit(s)")

        lake_c, data_c = server.new_lake("lake_many")
        raws = split_by_publisher(corpus, lake_root / "split", args.writers)
        _say(f"(c) DuckLake on PostgreSQL, {args.writers} writers at once …")
        started = time.perf_counter()
        procs = [(start_build(raw, lake_c, lake_root / "c" / f"home{i}", data_c), lake_root / "c" / f"home{i}")
                 for i, raw in enumerate(raws)]
        c_wall, c = wait_builds(procs, started)
        c_retries = sum(w.retries for w in c)
        _say(f"  {c_wall:.1f} s, writers {', '.join(f'{w.seconds:.0f}' for w in c)} s, {c_retries} retried commit(s)")

        counts = {"a": facts(file_warehouse, None), "b": facts(lake_b, data_b), "c": facts(lake_c, data_c)}
        _say(f"facts, loaded reports: {counts}")

        _say("one added quarter on (a) and (b) …")
        year = START_YEAR + args.years
        extra = lake_root / "extra"
        write_publisher((extra, 0, year, 1))
        new_file = sorted((extra / "p0000").glob(f"*-{year}-Q1.*"))[0]
        added = corpus / "p0000" / new_file.name
        shutil.copy2(new_file, added)
        try:
            a_add = run_build(corpus, file_warehouse, lake_root / "a" / "home")
            b_add = run_build(corpus, lake_b, lake_root / "b" / "home", data_b)
        finally:
            added.unlink()
        _say(f"  (a) {a_add.seconds:.2f} s, (b) {b_add.seconds:.2f} s")
    finally:
        server.stop()

    same = counts["a"] == counts["b"] == counts["c"]
    peak_c = max(w.peak_bytes for w in c)

    def stage(build: Build, name: str) -> str:
        return f"{build.document['timings'].get(name, 0.0):.1f}"

    rows = [
        ("(a) DuckDB file, one writer", f"{a.seconds:.1f}", f"{a.peak_bytes / 2**30:.2f}", "–",
         stage(a, "load"), f"{counts['a'][0]:,}"),
        ("(b) DuckLake on PostgreSQL, one writer", f"{b.seconds:.1f}", f"{b.peak_bytes / 2**30:.2f}", str(b.retries),
         stage(b, "load"), f"{counts['b'][0]:,}"),
        (f"(c) DuckLake on PostgreSQL, {args.writers} writers at once", f"{c_wall:.1f}",
         f"{peak_c / 2**30:.2f} (largest writer)", str(c_retries),
         " + ".join(stage(w, "load") for w in c), f"{counts['c'][0]:,}"),
        ("one added quarter, (a) DuckDB file", f"{a_add.seconds:.2f}", f"{a_add.peak_bytes / 2**30:.2f}", "–",
         stage(a_add, "load"), ""),
        ("one added quarter, (b) DuckLake on PostgreSQL", f"{b_add.seconds:.2f}", f"{b_add.peak_bytes / 2**30:.2f}",
         str(b_add.retries), stage(b_add, "load"), ""),
    ]
    table = "\n".join("| " + " | ".join(r) + " |" for r in rows)
    writers = ", ".join(f"{w.seconds:.1f} s" for w in c)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""## DuckLake on PostgreSQL vs the DuckDB file

Measured by `python -m bench.lake_benchmark --publishers {args.publishers} --years {args.years} --writers {args.writers}`
on {when}; machine: {machine()}; load average when it started: {load_at_start}.
Corpus: {files:,} reports ({args.publishers} publishers × {args.years} years × 4 quarters). The catalog is a throw-away
PostgreSQL on loopback; the lakes' Parquet files are on the local disk.

| build | wall s | peak memory GiB | retried commits | load stage s | facts |
|---|---:|---:|---:|---:|---:|
{table}

Facts and loaded reports are {"the same" if same else "NOT the same"} in (a), (b) and (c): {counts['a'][0]:,} facts and
{counts['a'][1]:,} reports in (a), {counts['b'][0]:,} and {counts['b'][1]:,} in (b), {counts['c'][0]:,} and {counts['c'][1]:,} in (c).
The {args.writers} writers of (c) took {writers}.
"""
    _say(text)
    output.write_text(text, encoding="utf-8")
    _say(f"wrote {output}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
