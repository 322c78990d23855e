#!/usr/bin/env python3
"""What SQLite alone takes to store backup reports the way the report writer
does (src/store/installations.rs, report_statements), without the server:
batches of reports as one JSON parameter, the summary UPDATE … FROM, the
health_base UPDATE where it changed, one COMMIT per batch.

    cargo run --release -- demo --customers 10 --installations 1000 --reports 100000   # CC_DATA_DIR=/tmp/probe
    python3 benches/sqlite_reports_probe.py /tmp/probe/command-center.db [batch] [synchronous] [cache_kib]

Works on a copy of the database (it adds reports). Prints the median and
mean time of each statement per batch and reports per second. Python's
sqlite3 is older than the SQLite sqlx bundles, so read it as an estimate.
"""
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import sqlite3

SUMMARY = """UPDATE installations SET last_seen_at = v.r, updated_at = v.r,
 last_backup_status = CASE WHEN (last_backup_at IS NULL OR v.f >= last_backup_at) THEN v.s ELSE last_backup_status END,
 storage_used_bytes = CASE WHEN (last_backup_at IS NULL OR v.f >= last_backup_at) THEN v.b ELSE storage_used_bytes END,
 failed_in_row = CASE WHEN NOT (last_backup_at IS NULL OR v.f >= last_backup_at) THEN failed_in_row
                      WHEN v.s = 'failed' THEN failed_in_row + 1 ELSE 0 END,
 last_success_at = CASE WHEN v.s <> 'failed' AND (last_success_at IS NULL OR v.f > last_success_at)
                        THEN v.f ELSE last_success_at END,
 last_backup_at = CASE WHEN (last_backup_at IS NULL OR v.f >= last_backup_at) THEN v.f ELSE last_backup_at END
 FROM (SELECT value->>0 AS i, value->>1 AS r, value->>2 AS f, value->>3 AS s, value->>4 AS b FROM json_each(?)) AS v
 WHERE installations.id = v.i"""

HEALTH = """CASE WHEN last_backup_at IS NULL THEN 2 WHEN last_backup_status = 'failed' THEN 4
 WHEN last_backup_status = 'warning' OR storage_used_bytes > (SELECT CASE WHEN l.client_limit_gb > 0
   THEN l.client_limit_gb * 1000000000 ELSE storage_used_bytes END FROM licenses l WHERE l.id = installations.license_id)
 THEN 1 ELSE 0 END"""

INSERT = """INSERT INTO reports (id, installation_id, started_at, finished_at, status, bytes_total,
 bytes_uploaded, files_total, files_changed, message, received_at)
 SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7,
        value->>8, value->>9, value->>10 FROM json_each(?)"""


def main():
    src = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    sync = sys.argv[3] if len(sys.argv) > 3 else "FULL"
    cache = int(sys.argv[4]) if len(sys.argv) > 4 else 65536
    work = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(src)))
    db_path = os.path.join(work, "probe.db")
    with sqlite3.connect(src) as s:
        s.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(src, db_path)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={sync}")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute(f"PRAGMA cache_size=-{cache}")
    ids = [r[0] for r in db.execute("SELECT id FROM installations WHERE deactivated_at IS NULL")]
    health = f"UPDATE installations SET health_base = {HEALTH} WHERE id IN (SELECT value FROM json_each(?)) AND health_base <> {HEALTH}"
    times = {"insert": [], "summary": [], "health": [], "commit": []}
    now = int(time.time() * 1000) + 10**9  # newer than any generated run
    k = 0
    rounds = 300
    for _ in range(rounds):
        clients = [ids[(k + j) % len(ids)] for j in range(batch)]
        k += batch
        now += 1
        rows = [[f"ffff{now:012x}-{j:04d}", c, now - 60_000, now, "success", 5_000_000_000, 1_000_000, 1000, 10, "", now]
                for j, c in enumerate(clients)]
        db.execute("BEGIN IMMEDIATE")
        for name, sql, param in [
            ("insert", INSERT, json.dumps(rows)),
            ("summary", SUMMARY, json.dumps([[c, now, now, "success", 5_000_000_000] for c in clients])),
            ("health", health, json.dumps(clients)),
            ("commit", "COMMIT", None),
        ]:
            t = time.perf_counter()
            db.execute(sql, (param,) if param is not None else ())
            times[name].append(time.perf_counter() - t)
    total = sum(sum(v) for v in times.values())
    print(f"{len(ids)} clients, batches of {batch}, synchronous={sync}, cache {cache} KiB, {rounds} batches")
    for name, v in times.items():
        print(f"  {name:<8} median {statistics.median(v) * 1000:6.3f} ms  mean {statistics.mean(v) * 1000:6.3f} ms")
    print(f"  => {rounds * batch / total:,.0f} reports/s for SQLite alone")
    db.close()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
