"""A reader process for tests: holds a read-only connection to the published warehouse and checks it.

Usage: python hold_reader.py WAREHOUSE CONTROL_DIR
It polls until CONTROL_DIR/stop exists. Each poll checks that every loaded report has exactly its
accepted number of facts (no partly loaded report is visible). When CONTROL_DIR/reconnect-N appears it
closes its connection, opens a new one and writes the periods it then sees to CONTROL_DIR/seen-N.json.
It prints one JSON line at the end: polls made, errors seen, inconsistencies seen.
"""

import json
import sys
import time
from pathlib import Path

import duckdb

CONSISTENCY = """
    SELECT r.source_file, r.accepted, count(f.target_key) AS facts
    FROM dim_report r LEFT JOIN fact_target_progress f USING (report_key)
    WHERE r.status = 'loaded' GROUP BY ALL HAVING count(f.target_key) <> r.accepted
"""


def main() -> None:
    warehouse, control = sys.argv[1], Path(sys.argv[2])
    con = duckdb.connect(warehouse, read_only=True)
    polls, errors, inconsistent, handled = 0, [], [], set()
    (control / "ready").write_text("1")
    while not (control / "stop").exists():
        try:
            bad = con.execute(CONSISTENCY).fetchall()
            if bad:
                inconsistent.append(bad)
            con.execute("SELECT count(*) FROM v_progress").fetchone()
            polls += 1
        except Exception as error:  # the test asserts there are none
            errors.append(repr(error))
        for marker in sorted(control.glob("reconnect-*")):
            if marker.name in handled:
                continue
            handled.add(marker.name)
            con.close()
            con = duckdb.connect(warehouse, read_only=True)
            periods = [p for (p,) in con.execute("SELECT DISTINCT period_key FROM v_progress ORDER BY 1").fetchall()]
            seen = control / f"seen-{marker.name.split('-')[1]}.json"
            partial = seen.with_suffix(".partial")
            partial.write_text(json.dumps(periods))
            partial.rename(seen)  # the test waits for the name: it must never see a half-written file
        time.sleep(0.02)
    con.close()
    print(json.dumps({"polls": polls, "errors": errors, "inconsistent": inconsistent}))


if __name__ == "__main__":
    main()
