"""The DuckDB side of `cargo bench --bench import`: reads every CloudTrail delivery file under
SRC (`{"Records":[...]}`) with `read_json`, keeps the main fields (the nested ones as JSON text)
and writes one zstd Parquet file with `COPY ... TO`. Prints {"seconds": float, "rows": int};
the time covers the query and the write, not Python's start-up.

Usage: python duckdb_import.py SRC OUT.parquet
"""
import json
import os
import sys
import time

import duckdb

src, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads TO %d" % int(os.environ.get("IRP_BENCH_THREADS", "2")))
# DuckDB's advice for large loads; with insertion order kept, 1 GB of JSON ran out of memory.
con.execute("SET preserve_insertion_order = false")
FIELDS = [
    "eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
    "userAgent", "requestID", "eventID", "eventType", "eventCategory", "recipientAccountId",
    "errorCode", "errorMessage",
]
JSON_FIELDS = ["userIdentity", "requestParameters", "responseElements", "resources",
               "additionalEventData"]
record = ", ".join([f"{f} VARCHAR" for f in FIELDS] + [f"{f} JSON" for f in JSON_FIELDS])
pattern = os.path.join(src, "**", "*.json")
started = time.perf_counter()
con.execute(
    f"""COPY (
          SELECT unnest(Records, recursive := true)
          FROM read_json('{pattern}', columns = {{'Records': 'STRUCT({record})[]'}},
                         format = 'auto', maximum_object_size = 67108864)
        ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)"""
)
seconds = time.perf_counter() - started
rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
print(json.dumps({"seconds": seconds, "rows": rows}))
