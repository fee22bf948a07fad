"""moto's server mode on loopback for irp's AWS tests, with three Athena behaviours moto 5.2.5
lacks, patched into its own Athena backend (everything else is moto's own):

- GetQueryResults pages: MaxResults (at most 1,000, Athena's limit) and NextToken. moto returns
  every row in one page and ignores both.
- ClientRequestToken makes StartQueryExecution idempotent: the same token starts no second
  query and returns the first one's id, as Athena does. moto starts a new query every time.
- A query can fail: a query whose text holds `/* moto:fail REASON */` goes QUEUED -> RUNNING ->
  FAILED with REASON as its StateChangeReason. moto has no FAILED transition.
- Statistics: a query holding `/* moto:scanned N */` reports N bytes scanned (moto reports 0).
- Missing tables: a query naming `"database"."table"` where moto's Glue catalog (same account
  and region) has the database but not the table fails as Athena fails it:
  `TABLE_NOT_FOUND: line L:C: Table 'awsdatacatalog.database.table' does not exist`; a database
  the catalog lacks gives `SCHEMA_NOT_FOUND`. Only when the catalog holds at least one database
  (tests that never touch Glue run as before). moto does not execute Athena SQL at all, so it
  never answers either by itself.

And one S3 behaviour: GetBucketNotificationConfiguration on a bucket with no notifications
answers `<NotificationConfiguration/>`, as S3 does; moto answers an empty
`<GetBucketNotificationResponse/>`, which the AWS SDKs cannot parse.

Usage: python moto_server.py PORT_FILE [--serial]. Starts the server on 127.0.0.1 on a free
port, writes the port to PORT_FILE, and runs until killed. `--serial` answers one request at a
time (werkzeug without threads): the shared-case concurrency tests need it, since moto's
conditional PutObject checks and writes in two steps.
"""

import json
import re
import socket
import sys
import time

from moto.athena import models, responses
from moto.glue.models import glue_backends
from moto.s3 import responses as s3_responses
from moto.server import ThreadedMotoServer

PAGE_MAX = 1000
FAIL = re.compile(r"/\*\s*moto:fail\s+(.*?)\s*\*/", re.S)
SCANNED = re.compile(r"/\*\s*moto:scanned\s+(\d+)\s*\*/")
QUALIFIED = re.compile(r'"([A-Za-z0-9_]+)"\s*\.\s*"([A-Za-z0-9_]+)"')

# --- ClientRequestToken --------------------------------------------------------------------
_tokens = {}
_start = responses.AthenaResponse.start_query_execution


def start_query_execution(self):
    token = self._get_param("ClientRequestToken")
    key = (self.current_account, self.region, token)
    if token and key in _tokens:
        return json.dumps({"QueryExecutionId": _tokens[key]})
    out = _start(self)
    if isinstance(out, str):
        exec_id = json.loads(out)["QueryExecutionId"]
        if token:
            _tokens[key] = exec_id
        reason = missing_in_glue(self.current_account, self.region, self._get_param("QueryString") or "")
        if reason:
            self.athena_backend.executions[exec_id].catalog_failure = reason
    return out


def missing_in_glue(account, region, query):
    """Athena's reason for a query on a table the Glue catalog lacks, or None."""
    databases = glue_backends[account][region].databases
    if not databases:
        return None
    for m in QUALIFIED.finditer(query):
        database, table = m.group(1), m.group(2)
        line = query.count("\n", 0, m.start()) + 1
        column = m.start() - (query.rfind("\n", 0, m.start()) + 1) + 1
        if database not in databases:
            return f"SCHEMA_NOT_FOUND: line {line}:{column}: Schema '{database}' does not exist"
        if table not in databases[database].tables:
            return (f"TABLE_NOT_FOUND: line {line}:{column}: "
                    f"Table 'awsdatacatalog.{database}.{table}' does not exist")
    return None


responses.AthenaResponse.start_query_execution = start_query_execution

# --- FAILED and statistics ------------------------------------------------------------------
_advance = models.Execution.advance


def advance(self):
    _advance(self)
    m = FAIL.search(self.query or "")
    reason = m.group(1) if m else getattr(self, "catalog_failure", None)
    if reason and self.status == "SUCCEEDED":
        self.status = "FAILED"
        self.reason = reason


models.Execution.advance = advance
_get_execution = responses.AthenaResponse.get_query_execution


def get_query_execution(self):
    out = json.loads(_get_execution(self))
    execution = self.athena_backend.executions[self._get_param("QueryExecutionId")]
    status = out["QueryExecution"]["Status"]
    if getattr(execution, "reason", None):
        status["StateChangeReason"] = execution.reason
        status["AthenaError"] = {"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False,
                                 "ErrorMessage": execution.reason}
    if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
        status["CompletionDateTime"] = time.time()
    m = SCANNED.search(execution.query or "")
    if m:
        out["QueryExecution"]["Statistics"]["DataScannedInBytes"] = int(m.group(1))
    return json.dumps(out)


responses.AthenaResponse.get_query_execution = get_query_execution

# --- Paging ---------------------------------------------------------------------------------
def get_query_results(self):
    exec_id = self._get_param("QueryExecutionId")
    execution = self.athena_backend.executions.get(exec_id)
    if execution is not None and execution.status != "SUCCEEDED":
        return self.error(f"Query has not yet finished. Current state: {execution.status}", 400)
    # The page is cut from moto's stored result, not from a dump of every row per page.
    result = self.athena_backend.get_query_results(exec_id)
    size = min(int(self._get_param("MaxResults") or PAGE_MAX), PAGE_MAX)
    start = int(self._get_param("NextToken") or 0)
    out = {"ResultSet": {"Rows": result.rows[start:start + size],
                         "ResultSetMetadata": {"ColumnInfo": result.column_info}}}
    if start + size < len(result.rows):
        out["NextToken"] = str(start + size)
    return json.dumps(out)


responses.AthenaResponse.get_query_results = get_query_results


# --- S3: an empty notification configuration ----------------------------------------------
_get_notification = s3_responses.S3Response.get_bucket_notification
EMPTY_NOTIFICATION = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
)


def get_bucket_notification(self):
    if not self.backend.get_bucket_notification_configuration(self.bucket_name):
        return 200, {"Content-Type": "application/xml"}, EMPTY_NOTIFICATION
    return _get_notification(self)


s3_responses.S3Response.get_bucket_notification = get_bucket_notification


class SerialMotoServer(ThreadedMotoServer):
    """moto answering one request at a time (werkzeug without threads). moto's conditional
    PutObject checks and writes in two steps; served serially, a race the tests see is irp's,
    not moto's."""

    def _server_entry(self) -> None:
        from moto.moto_server.threaded_moto_server import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
            make_server,
        )

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._ip_address, self._port, app, False, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


def main():
    """Usage: moto_server.py PORT_FILE [--serial]"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kind = SerialMotoServer if "--serial" in sys.argv[2:] else ThreadedMotoServer
    server = kind(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with open(sys.argv[1], "w") as f:
        f.write(str(port))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
