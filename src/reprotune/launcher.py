"""Stage start-up without the import bill: a warm process forks each stage.

Every stage is a fresh `python stages/<stage>.py`, and on 2 cores importing pandas,
scikit-learn and MLflow (with its SQLite store) costs 5-10 s before the stage does anything:
a pipeline of 23 stages on a 300-row table spent most of its time there. So the first stage
of a run starts, in the background, a server that imports those third-party libraries once;
each later stage script connects to it over a Unix socket and the server forks a child that
*is* the stage: it takes the script's stdin/stdout/stderr (the descriptors themselves, passed
over the socket), its argv, environment, working folder and umask, runs the script as
`__main__` and reports its exit status, which the script's own process exits with. Signals
sent to that process are passed on to the child, and a child whose caller has gone away
stops itself (SIGTERM: its MLflow run ends KILLED).

What makes this safe:
- The server imports third-party libraries only, never reprotune: every stage imports the
  project's code afresh, so an edit is always what runs.
- A server serves one interpreter, one copy of this file, one state of site-packages and
  the environment variables that libraries read at import (thread counts, log levels): any
  difference is another server (another socket name).
- No server yet, a server still importing, or REPROTUNE_WARM=0: the stage runs in its own
  process as before. A server exits after IDLE_EXIT_S without work.
"""

import contextlib
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARM_ENV = "REPROTUNE_WARM"  # 0 / false: every stage starts cold
DIR_ENV = "REPROTUNE_WARM_DIR"  # where the sockets live (default: a per-user temp folder)
IDLE_EXIT_S = 600
STARTING_WAIT_S = 60  # a stage waits this long at most for a server that is importing
# What the stages import from third parties (listed from the sys.modules of each stage on a
# tabular project; a module missing here is imported by the stage itself, only slower). Not
# TensorFlow or torch: those stay out of stages that do not use them.
PRELOAD = (
    "numpy", "pandas", "pyarrow.parquet", "pydantic", "yaml", "ruamel.yaml", "requests",
    "filelock", "joblib", "tqdm", "PIL.Image", "scipy.optimize", "scipy.special", "scipy.stats",
    "sklearn.base", "sklearn.calibration", "sklearn.compose", "sklearn.ensemble",
    "sklearn.feature_extraction.text", "sklearn.frozen", "sklearn.impute", "sklearn.inspection",
    "sklearn.linear_model", "sklearn.metrics", "sklearn.model_selection", "sklearn.pipeline",
    "sklearn.preprocessing", "imblearn.over_sampling", "imblearn.under_sampling", "xgboost",
    "optuna", "optuna.visualization.matplotlib", "matplotlib.pyplot", "shap",
    "lime.lime_tabular", "lime.lime_text", "prometheus_client", "mlflow", "mlflow.tracking",
    "mlflow.entities", "mlflow.models", "mlflow.pyfunc", "mlflow.sklearn", "mlflow.data",
    "mlflow.data.pandas_dataset", "mlflow.artifacts",
    "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.system_metrics.system_metrics_monitor",
)  # fmt: skip
# Read by libraries when they are imported: a server is only reused under the same values.
IMPORT_TIME_ENV = ("PYTHON", "OMP_", "OPENBLAS_", "MKL_", "REPROTUNE_NUM_THREADS",
                   "REPROTUNE_VERBOSE", "MLFLOW_LOGGING_LEVEL", "MLFLOW_CONFIGURE_LOGGING",
                   "LD_", "TF_", "KERAS_", "CUDA_")  # fmt: skip
_HEADER = struct.Struct("!I")
_in_child = False


def enabled() -> bool:
    return os.environ.get(WARM_ENV, "1").lower() not in ("0", "false", "no", "off")


def server_key() -> str:
    """What a server must share with a stage to run it: interpreter, this code, the installed
    packages, the import-time environment."""
    site = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]
    parts = [
        sys.executable,
        Path(__file__).read_text(),
        (Path(__file__).parent / "__init__.py").read_text(),  # also loaded in the server
        *(f"{p}:{os.stat(p).st_mtime_ns}" for p in site),
        *sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith(IMPORT_TIME_ENV)),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def socket_path() -> Path:
    folder = Path(
        os.environ.get(DIR_ENV) or Path(tempfile.gettempdir()) / f"reprotune-warm-{os.getuid()}"
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"{server_key()}.sock"


def handoff(module_name: str, script: str) -> None:
    """At the top of a stage script: run it in a warm child when a server is up (this
    process then exits with the child's status); otherwise return, and start a server for
    the stages after this one."""
    if module_name != "__main__" or _in_child or not enabled():
        return
    path = socket_path()
    connection = _connect(path)
    if connection is None and _server_starting(path):
        # Importing beside a starting server takes longer than waiting for it (2 cores).
        deadline = time.monotonic() + STARTING_WAIT_S
        while connection is None and time.monotonic() < deadline and _server_starting(path):
            time.sleep(0.1)
            connection = _connect(path)
    if connection is None:
        if not _server_starting(path):  # none, or one that never came up: start one
            start_server(path)
        return
    raise SystemExit(_run_in_child(connection, script))


def _connect(path: Path) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        return None
    return connection


def _server_starting(path: Path) -> bool:
    """A server holds the lock (it is importing, or up); False when none does."""
    import fcntl

    try:
        with open(f"{path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False


def start_server(path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC_")}
    subprocess.Popen(
        [sys.executable, "-m", "reprotune.launcher", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the stage's process group: a Ctrl-C is not for it
        env=env,
        cwd="/",
    )


def _run_in_child(connection: socket.socket, script: str) -> int:
    request = {
        "script": os.path.abspath(script),
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "umask": _current_umask(),
    }
    payload = json.dumps(request).encode()
    sys.stdout.flush()
    sys.stderr.flush()
    socket.send_fds(connection, [_HEADER.pack(len(payload))], [0, 1, 2])
    connection.sendall(payload)
    reader = connection.makefile("r")
    child_pid = None
    for line in reader:
        kind, _, value = line.strip().partition(" ")
        if kind == "pid":
            child_pid = int(value)
            _forward_signals(child_pid)
        elif kind == "exit":
            return int(value)
    print(
        "[reprotune] the stage's warm process ended without an exit status "
        f"(pid {child_pid}); rerun with {WARM_ENV}=0 to run it in its own process",
        file=sys.stderr,
    )
    return 1


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _forward_signals(child_pid: int) -> None:
    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child_pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, forward)


# --- the server ---------------------------------------------------------------------------


def serve(path: Path) -> None:
    import fcntl
    import importlib
    import selectors

    lock = open(f"{path}.lock", "a+")  # noqa: SIM115 - held for the server's lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another server for this key is starting or running
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")  # who to stop
    lock.flush()
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # an optional library that is not installed
            importlib.import_module(name)
    with contextlib.suppress(Exception):  # MLflow maps installed packages on each model save
        from mlflow.utils.requirements_utils import _init_modules_to_packages_map

        _init_modules_to_packages_map()  # 1.3 s once, instead of in every stage that saves one
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path.unlink(missing_ok=True)
    listener.bind(str(path))
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    try:
        while selector.select(timeout=IDLE_EXIT_S):
            connection, _ = listener.accept()
            if os.fork() == 0:
                selector.close()
                listener.close()
                _child(connection)  # never returns
            connection.close()
    finally:
        if listener.fileno() != -1:
            path.unlink(missing_ok=True)


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    header, fds, _, _ = socket.recv_fds(connection, _HEADER.size, 3)
    (size,) = _HEADER.unpack(header)
    payload = b""
    while len(payload) < size:
        chunk = connection.recv(size - len(payload))
        if not chunk:
            raise ConnectionError("the stage went away before its request arrived")
        payload += chunk
    return json.loads(payload), fds


def _child(connection: socket.socket) -> None:
    global _in_child
    _in_child = True
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the stage waits for its own children
    code = 1
    try:
        request, fds = _receive(connection)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        _become(request)
        connection.sendall(f"pid {os.getpid()}\n".encode())
        _stop_when_caller_leaves(connection)
        code = _run_script(request["script"])
    finally:
        _finish(connection, code)


def _become(request: dict) -> None:
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    sys.argv = request["argv"]
    sys.path[0] = os.path.dirname(request["script"])
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=stream.isatty(), write_through=unbuffered)


def _stop_when_caller_leaves(connection: socket.socket) -> None:
    """The stage's own process was killed (SIGKILL cannot be passed on): stop, as it would
    have."""
    import threading

    def watch():
        try:
            while connection.recv(1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def _run_script(script: str) -> int:
    import runpy
    import traceback

    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _finish(connection: socket.socket, code: int) -> None:
    import atexit

    try:
        atexit._run_exitfuncs()  # what a normal interpreter exit runs (MLflow flushes there)
        sys.stdout.flush()
        sys.stderr.flush()
        connection.sendall(f"exit {code}\n".encode())
    finally:
        os._exit(code)


if __name__ == "__main__":
    # Through the imported module, not this __main__ copy: the stages' `handoff` reads the
    # imported module's _in_child.
    from reprotune.launcher import serve as serve_imported

    serve_imported(Path(sys.argv[1]))
