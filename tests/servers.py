"""Servers the tests start on loopback (MLflow, PostgreSQL) and always stop."""

import contextlib
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
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mlflow_cli() -> list[str]:
    return [str(Path(sys.executable).parent / "mlflow")]


def wait_for_http(url: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited ({process.returncode}): {_stderr(process)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    stop(process)
    raise AssertionError(f"{url} did not answer in {timeout_s}s: {_stderr(process)}")


def server_log():
    """Where a server's stderr goes: a temporary file, never a pipe that nobody drains (a
    server that logs more than a pipe holds would block on its next write)."""
    return tempfile.TemporaryFile()


def _stderr(process: subprocess.Popen) -> str:
    log = process.stderr or getattr(process, "_log", None)
    if log is None:
        return ""
    with contextlib.suppress(OSError, ValueError):
        log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


def popen_server(command: list[str], **kwargs) -> subprocess.Popen:
    """A server in its own session (so `stop` ends its workers too), stderr to a file that
    `_stderr` reads back."""
    log = server_log()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True, **kwargs
    )
    process._log = log
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop the server and the workers it forked (it leads its own session)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI machines run the tests as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres_server(databases: tuple[str, ...] = ("mlflow",)) -> Iterator[str]:
    """A throw-away PostgreSQL cluster on loopback with the given databases (user `mlflow`,
    no password); yields a SQLAlchemy URL to the first.

    Skipped where PostgreSQL is not installed, except under CI (`.ci/run` installs it).
    """
    bindir = _postgres_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            raise AssertionError("PostgreSQL is not installed; .ci/run should install it")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="reprotune-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    subprocess.run(
        _as_postgres_user(
            [str(bindir / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    server = popen_server(
        _as_postgres_user(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-k",
                str(folder),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ]
        ),
    )
    try:
        _wait_for_postgres(bindir, port, server)
        for database in databases:
            createdb = [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port)]
            subprocess.run([*createdb, "-U", "mlflow", database], check=True, capture_output=True)
        yield f"postgresql://mlflow@127.0.0.1:{port}/{databases[0]}"
    finally:
        stop(server)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_postgres(bindir: Path, port: int, server: subprocess.Popen) -> None:
    ready = [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"]
    for _ in range(120):
        if server.poll() is not None:
            raise AssertionError(f"postgres exited: {_stderr(server)}")
        if subprocess.run(ready).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError("postgres did not start in 60s")


@contextlib.contextmanager
def mlflow_server(
    backend_store_uri: str, artifacts: Path | str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`mlflow server` on loopback over the given store, proxying artifacts to `artifacts` (a
    folder or an s3:// URI, reached with `env`); yields its tracking URI."""
    port = free_port()
    server = popen_server(
        [
            *mlflow_cli(),
            "server",
            "--backend-store-uri",
            backend_store_uri,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            **(env or {}),
        },
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def s3_server(buckets: tuple[str, ...]) -> Iterator[str]:
    """An S3-compatible object store on loopback (moto's server) with the given buckets;
    yields its endpoint URL. Use S3_CREDENTIALS to reach it."""
    import boto3

    port = free_port()
    server = popen_server(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{endpoint}/moto-api/", server)
        client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        stop(server)


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def s3_keys(endpoint: str, bucket: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_dom(page: str, profile: Path, virtual_time_ms: int = 10000) -> str:
    """The DOM headless Chromium renders for `page` (a file:// or loopback URL), with every
    request that would leave the machine failing: the page must not need one."""
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--virtual-time-budget={virtual_time_ms}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ]  # fmt: skip
    done = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120
    )
    return done.stdout
