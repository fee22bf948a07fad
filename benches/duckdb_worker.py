"""The DuckDB side of `cargo bench --bench engine`: reads one JSON request per line on stdin,
answers one JSON line on stdout. Timing is taken here, around execution and fetching every row
into Arrow, so the pipe between the processes is not counted.

Requests: {"setup": LAKE}  -> registers the lake's tables under Security Lake's names
          {"sql": SQL}     -> {"ms": float, "rows": int} or {"error": text}
"""
import json
import os
import sys
import time

import duckdb

con = duckdb.connect()
con.execute("SET threads TO %d" % int(os.environ.get("IRP_BENCH_THREADS", "2")))

SOURCES = ["cloud_trail_mgmt", "s3_data", "lambda_execution", "vpc_flow", "route53", "sh_findings"]


def setup(lake):
    regions = sorted(
        {d.split("=", 1)[1] for s in SOURCES if os.path.isdir(os.path.join(lake, s))
         for d in os.listdir(os.path.join(lake, s)) if d.startswith("region=")}
    )
    for region in regions:
        db = "amazon_security_lake_glue_db_" + region.replace("-", "_")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {db}")
        for s in SOURCES:
            if not os.path.isdir(os.path.join(lake, s, f"region={region}")):
                continue
            table = f"amazon_security_lake_table_{region.replace('-', '_')}_{s}_2_0"
            glob = os.path.join(lake, s, "**", "*.parquet").replace("'", "''")
            con.execute(
                f"CREATE VIEW {db}.{table} AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true) "
                f"WHERE region = '{region}'"
            )


for line in sys.stdin:
    req = json.loads(line)
    try:
        if "setup" in req:
            setup(req["setup"])
            out = {"ok": True}
        else:
            start = time.perf_counter()
            table = con.execute(req["sql"]).to_arrow_table()
            ms = (time.perf_counter() - start) * 1000.0
            out = {"ms": ms, "rows": table.num_rows}
    except Exception as e:  # the bench reports it, it does not stop
        out = {"error": str(e)}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
