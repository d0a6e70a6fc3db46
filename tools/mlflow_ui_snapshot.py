"""Open an MLflow experiment page in headless Chromium: a screenshot and the rendered DOM.

Starts `mlflow ui` on loopback over the given store, loads the experiment's runs page (or any
page under it, e.g. a run's metric charts), and stops the server. Nothing leaves the machine.

The browser profile starts as a user's does after a first visit (UI_PREFERENCES): the model
training view, and the assistant panel, which MLflow opens once on a first load, closed.

    .venv/bin/python tools/mlflow_ui_snapshot.py --store sqlite:///mlflow.db \
        --screenshot docs/img/mlflow-ui.png
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Only the loopback server may be reached.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


# The UI keeps these in localStorage as `<key>_v<version>`, JSON-encoded.
UI_PREFERENCES = {
    "mlflow.workflowType_v1": "machine_learning",
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True,
    "mlflow.assistant.panelOpen_v1": False,
}


def _seed_preferences(chromium_flags: list[str], port: int, extra: dict) -> None:
    """Writes UI_PREFERENCES and `extra` into the profile's localStorage for
    http://127.0.0.1:<port>, by loading a page that sets them from a throw-away server on that
    port (before mlflow's)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    script = "".join(
        f"localStorage.setItem({json.dumps(k)}, {json.dumps(json.dumps(v))});"
        for k, v in {**UI_PREFERENCES, **extra}.items()
    )
    page = f"<html><body><script>{script}document.body.textContent='ok'</script></body></html>"

    class Seed(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page.encode())

        def log_message(self, *args):
            pass

    with HTTPServer(("127.0.0.1", port), Seed) as seed:
        threading.Thread(target=seed.serve_forever, daemon=True).start()
        subprocess.run(
            [*chromium_flags, "--dump-dom", f"http://127.0.0.1:{port}/"],
            capture_output=True,
            timeout=120,
            check=True,
        )
        seed.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, server: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"mlflow ui exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in {timeout_s}s")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SystemExit("Chromium not found; install it (apt-get install chromium)")


def _experiment_id(store: str, experiment: str) -> str:
    from mlflow.tracking import MlflowClient

    found = MlflowClient(store).get_experiment_by_name(experiment)
    if found is None:
        raise SystemExit(f"no experiment {experiment!r} in {store}")
    return found.experiment_id


def _runs_table_state(store: str, experiment_id: str, columns: list[str]) -> dict:
    """The runs table as a user leaves it: every pipeline execution expanded to its stage runs,
    and `columns` (e.g. "metrics.`macro_f1`") shown beside Source, Models and Dataset."""
    from mlflow.tracking import MlflowClient

    parents = MlflowClient(store).search_runs(
        [experiment_id], filter_string="tags.`reprotune.kind` = 'pipeline'"
    )
    state = {
        "runsExpanded": {run.info.run_id: True for run in parents},
        "selectedColumns": [
            "attributes.`Source`",
            "attributes.`Models`",
            "attributes.`Dataset`",
            *columns,
        ],
    }
    scope = f"ExperimentPage-{json.dumps([experiment_id])}"
    return {f"MLflowLocalStorage-1.1-{scope}-ReactComponentState": state}


def snapshot(
    store: str,
    experiment: str,
    page: str,
    screenshot: Path | None,
    dom: Path | None,
    window: str = "1600,1000",
    wait_ms: int = 20000,
    columns: tuple[str, ...] = (),
    more_doms: tuple[tuple[str, Path], ...] = (),
) -> None:
    """`page`'s screenshot and DOM, then each (page, DOM file) of `more_doms`, from one
    server (its start is most of a snapshot's time)."""
    experiment_id = _experiment_id(store, experiment)
    port = _free_port()
    with tempfile.TemporaryDirectory() as profile:
        flags = [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={window}",
            f"--virtual-time-budget={wait_ms}",
        ]
        _seed_preferences(flags, port, _runs_table_state(store, experiment_id, list(columns)))
        base = f"http://127.0.0.1:{port}/#/experiments/{experiment_id}"
        url = f"{base}{page}"
        server = _start_mlflow_ui(store, port)
        try:
            _wait(f"http://127.0.0.1:{port}/health", server)
            if screenshot:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(
                    [*flags, f"--screenshot={screenshot.resolve()}", url],
                    capture_output=True,
                    timeout=180,
                    check=True,
                )
            doms = ([(page, dom)] if dom else []) + list(more_doms)
            for shown, path in doms:
                done = subprocess.run(
                    [*flags, "--dump-dom", f"{base}{shown}"],
                    capture_output=True,
                    text=True,
                    timeout=180,
                )
                path.write_text(done.stdout, encoding="utf-8")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def _start_mlflow_ui(store: str, port: int) -> subprocess.Popen:
    mlflow = Path(sys.executable).parent / "mlflow"
    # One worker: the snapshot is one client, and each of the default four imports MLflow anew
    # (half a minute of start-up on two cores).
    command = [str(mlflow), "ui", "--backend-store-uri", store, "--workers", "1"]
    return subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "PATH": f"{mlflow.parent}{os.pathsep}{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="sqlite:///mlflow.db", help="backend store URI")
    parser.add_argument("--experiment", default="reprotune")
    parser.add_argument("--page", default="", help="path after the experiment, e.g. /runs/<id>")
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--dom", type=Path, help="write the rendered HTML here")
    parser.add_argument("--window", default="1600,1000")
    parser.add_argument(
        "--wait-ms", type=int, default=20000, help="virtual time the page gets to render"
    )
    parser.add_argument(
        "--column", action="append", default=[], help="a runs-table column, e.g. metrics.`macro_f1`"
    )
    parser.add_argument(
        "--also", nargs=2, action="append", default=[], metavar=("PAGE", "DOM"),
        help="another page's rendered HTML, from the same server",
    )  # fmt: skip
    args = parser.parse_args()
    snapshot(
        args.store,
        args.experiment,
        args.page,
        args.screenshot,
        args.dom,
        args.window,
        args.wait_ms,
        columns=tuple(args.column),
        more_doms=tuple((page, Path(dom)) for page, dom in args.also),
    )


if __name__ == "__main__":
    main()
