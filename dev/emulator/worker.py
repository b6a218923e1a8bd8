"""The execution environment: one warm process per concurrent invocation, like a Lambda sandbox.

Started by :mod:`.runtime` as ``python worker.py ...`` under the *project's* interpreter (:mod:`.interpreter`: its
virtualenv, whatever Python version that is), with cwd = the project directory (``LAMBDA_TASK_ROOT``), its
stdout and stderr redirected to a log file the runtime owns. Everything the function writes to fd 1 or 2 (print,
logging, Alembic's ``fileConfig`` stderr handler, child processes) lands in that file, which the runtime cuts per
invocation and frames with START/END/REPORT: capture at the file-descriptor level, as Lambda's log pipe does.

The process mirrors the AWS Python runtime (awslambdaric) where it matters to a Zappa user:
- init = making ``/tmp`` private and the task root read-only (:mod:`.private_tmp`) and importing ``zappa.handler``
  (reported as Init Duration);
  the app itself loads on the first invocation, inside Zappa's ``LambdaHandler``, as on Lambda, or during init for
  an eager environment (``prewarm``), as ``INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT`` makes Zappa do;
- each invocation runs in a fresh copy of the init phase's ``contextvars`` context, so nothing one pushes there (an
  app context) reaches the next;
- the root logger gets Lambda's ``[LEVEL]\\ttimestamp\\trequestId\\tmessage`` handler;
- an exception becomes ``{errorMessage, errorType, requestId, stackTrace}`` and ``[ERROR] Type: message`` plus the
  traceback in the log; ``SystemExit`` is not caught, so the process exits and the runtime reports an exit error;
- a result that is not JSON-serialisable is a ``Runtime.MarshalError``.

Only the stdlib is imported before ``sys.path`` is set up: this file's directory must not shadow project modules.
It must run on any Python a Zappa project may use (3.7 and later): nothing newer in the code, annotations lazy.
The control channel is a pair of pipes (4-byte length + JSON), not stdin/stdout, which belong to the log.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import json
import logging
import os
import resource
import struct
import sys
import time
import traceback
from typing import Any

_HEADER = struct.Struct(">I")


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int) -> dict[str, Any] | None:
    """One framed JSON message, or None at end of file (the runtime went away)."""
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


def write_message(fd: int, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode()
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


class LambdaContext:
    """The attributes of awslambdaric's ``LambdaContext`` that handlers use.

    Our own small class instead of python-lambda-local's ``Context``: importing ``lambda_local`` pulls in
    ``pkg_resources`` (slow, deprecated, noisy in the log) and its default request id is shared by every instance.
    """

    def __init__(self, message: dict[str, Any]) -> None:
        self.aws_request_id: str = message["request_id"]
        self.function_name: str = message["function_name"]
        self.function_version: str = "$LATEST"
        self.invoked_function_arn: str = message["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(message["memory_size"])
        self.log_group_name: str = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name: str = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = message.get("client_context")
        self.tenant_id = None
        self._deadline: float = float(message["deadline"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"remaining_time_in_millis={self.get_remaining_time_in_millis()}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _install_lambda_log_handler() -> _RequestIdFilter:
    """Lambda's root handler (awslambdaric bootstrap): it is why Zappa's ``logging.basicConfig()`` is a no-op there."""
    request_filter = _RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(request_filter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    return request_filter


def error_result(exc: BaseException, request_id: str) -> dict[str, Any]:
    """Lambda's error body. The stack trace skips this file's frames, as awslambdaric skips its bootstrap."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def log_error(error: dict[str, Any]) -> None:
    """Write the error the way awslambdaric's ``log_error`` does, so ``zappa invoke`` (log tail only) shows it."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error.get("stackTrace") is not None:
        lines.append("Traceback (most recent call last):")
        for element in error["stackTrace"]:
            lines.extend(element.splitlines())
    sys.stderr.write("\n".join(lines) + "\n")


def _max_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# ru_maxrss starts at the peak of the process that spawned us (Linux carries it across fork and exec), so only a
# value above this start-up figure is our own.
_INHERITED_MAX_RSS_MB = _max_rss_mb()


def peak_rss_mb() -> float:
    """This process's own peak resident set in MB, or 0 while it is below what it inherited; sent with every reply so
    the runtime can enforce ``memory_size`` where it cannot watch the process from outside (no /proc)."""
    peak = _max_rss_mb()
    return peak if peak > _INHERITED_MAX_RSS_MB else 0.0


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken stream must not break the invocation
            stream.flush()


def _prewarm(handler_module: Any) -> None:
    """Load the app during init, as Zappa's ``INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT`` does (provisioned concurrency,
    SnapStart): the singleton ``LambdaHandler`` imports the settings module and the ``app_function``'s module now, so
    the first invocation is warm. Skipped when the variable already did it at import."""
    if handler_module.global_handler is None:
        handler_module.global_handler = handler_module.LambdaHandler()


def serve(req_fd: int, resp_fd: int, prewarm: bool = False, tmp: str = "") -> None:
    """Init (import Zappa's handler; with ``prewarm`` also load the app), report ready, then run invocations one at a
    time until the pipe closes.

    Each invocation runs in a fresh copy of the init phase's ``contextvars`` context: whatever an invocation pushes
    there (``app.app_context().push()`` in a raw command, a request context left open) is gone at the next one, so
    no invocation passes only because an earlier one in the same environment left state behind.
    """
    started = time.perf_counter()
    request_filter = _install_lambda_log_handler()
    import zappa.handler as handler_module

    if prewarm:
        _prewarm(handler_module)
    lambda_handler = handler_module.lambda_handler
    _flush()
    init_ms = (time.perf_counter() - started) * 1000
    ready = {"type": "ready", "init_ms": init_ms, "pid": os.getpid(), "peak_mb": peak_rss_mb(), "tmp": tmp}
    write_message(resp_fd, ready)
    base_context = contextvars.copy_context()

    while True:
        message = read_message(req_fd)
        if message is None:
            return
        request_id = message["request_id"]
        request_filter.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = message.get("trace_id", "")
        reply: dict[str, Any] = {"type": "result", "request_id": request_id}
        try:
            event = json.loads(message["payload"])
            result = base_context.copy().run(lambda_handler, event, LambdaContext(message))
            try:
                reply["payload"] = json.dumps(result)
            except (TypeError, ValueError) as exc:
                error = {
                    "errorMessage": f"Unable to marshal response: {exc}",
                    "errorType": "Runtime.MarshalError",
                    "requestId": request_id,
                    "stackTrace": [],
                }
                log_error(error)
                reply["error"] = error
        except Exception as exc:  # SystemExit/KeyboardInterrupt end the process, as on Lambda
            error = error_result(exc, request_id)
            log_error(error)
            reply["error"] = error
        _flush()
        reply["peak_mb"] = peak_rss_mb()
        write_message(resp_fd, reply)


def _namespace_module() -> Any:
    """private_tmp.py (the worker's mount namespace), loaded by path: nothing of ours may enter ``sys.modules`` under
    a name a project module could have."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "private_tmp.py")
    spec = importlib.util.spec_from_file_location("_lambda_emulator_private_tmp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> None:
    """``worker.py REQ_FD RESP_FD TASK_ROOT SETTINGS_DIR [OPTIONS_JSON]``; options: ``private_tmp_mb`` (a private
    /tmp of that size, or none: the runtime set TMPDIR instead), ``read_only_task_root`` (in that namespace, the task
    root read-only, as /var/task on Lambda), ``prewarm`` (load the app during init)."""
    req_fd, resp_fd, project_dir, settings_dir = int(argv[0]), int(argv[1]), argv[2], argv[3]
    options = json.loads(argv[4]) if len(argv) > 4 else {}
    tmp = ""
    if options.get("private_tmp_mb"):
        namespace = _namespace_module()
        keep = [project_dir, settings_dir, os.environ.get("HOME", "")]
        tmp = namespace.make_private(int(options["private_tmp_mb"]), namespace.paths_to_keep(keep))
        if options.get("read_only_task_root"):
            namespace.make_read_only(project_dir, namespace.writable_inside(project_dir))
            tmp += ", task root read-only"
    # sys.path[0] is this file's directory: replace it by the settings module's directory and the task root.
    sys.path[0:1] = [settings_dir, project_dir]
    os.chdir(project_dir)
    serve(req_fd, resp_fd, prewarm=bool(options.get("prewarm")), tmp=tmp)


if __name__ == "__main__":
    main(sys.argv[1:])
