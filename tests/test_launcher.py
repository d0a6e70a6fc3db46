"""The warm launcher: a stage script run by a forked child of a server that has the
third-party libraries imported behaves as the script run in its own process (output, exit
status, argv, environment, working folder, signals), and always runs the current code."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reprotune import launcher

SCRIPT = """
import os, sys
from reprotune.launcher import handoff

handoff(__name__, __file__)

import probe_helper  # beside the script: edited between runs

warm = "sklearn.ensemble" in sys.modules  # imported by the server, never by this script
print(f"warm={warm} value={probe_helper.VALUE} argv={sys.argv[1:]} cwd={os.getcwd()} "
      f"env={os.environ.get('PROBE')} pid={os.getpid()}", flush=True)
print("to stderr", file=sys.stderr)
if sys.argv[1] == "sleep":
    import signal, time
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    open(sys.argv[2], "w").write(str(os.getpid()))
    time.sleep(120)
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture()
def warm(tmp_path):
    """A script and helper module, an environment with its own socket folder; the server
    it starts is stopped afterwards."""
    (tmp_path / "probe.py").write_text(SCRIPT)
    (tmp_path / "probe_helper.py").write_text("VALUE = 1\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {**os.environ, launcher.DIR_ENV: str(tmp_path / "sockets"), "PROBE": "here"}
    env.pop(launcher.WARM_ENV, None)
    yield tmp_path, workdir, env
    for lock in (tmp_path / "sockets").glob("*.lock"):
        pid = lock.read_text().strip()
        if pid.isdigit():
            os.kill(int(pid), signal.SIGTERM)


def run(folder: Path, workdir: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(folder / "probe.py"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_for_server(folder: Path) -> None:
    for _ in range(240):  # the server imports pandas, scikit-learn and MLflow: seconds
        if list((folder / "sockets").glob("*.sock")):
            return
        time.sleep(0.5)
    raise AssertionError("no warm server came up in 120 s")


def test_a_warm_child_runs_the_script_as_its_own_process_would(warm):
    folder, workdir, env = warm
    cold = run(folder, workdir, env, "3")  # no server yet: runs here, starts one
    assert cold.returncode == 3
    assert "warm=False value=1 argv=['3']" in cold.stdout
    wait_for_server(folder)

    (folder / "probe_helper.py").write_text("VALUE = 2\n")
    hot = run(folder, workdir, env, "5")
    assert hot.returncode == 5
    assert f"warm=True value=2 argv=['5'] cwd={workdir} env=here" in hot.stdout
    assert hot.stderr == "to stderr\n"
    assert run(folder, workdir, env, "0").returncode == 0


def test_signals_reach_the_child_and_a_killed_caller_stops_it(warm):
    folder, workdir, env = warm
    run(folder, workdir, env, "0")
    wait_for_server(folder)
    for signum, code in ((signal.SIGTERM, 143), (signal.SIGKILL, -9)):
        pid_file = folder / f"pid-{signum}"
        caller = subprocess.Popen(
            [sys.executable, str(folder / "probe.py"), "sleep", str(pid_file)],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(120):
            if pid_file.is_file() and pid_file.read_text():
                break
            time.sleep(0.25)
        child = int(pid_file.read_text())
        assert child != caller.pid  # the script ran in the warm child
        caller.send_signal(signum)
        assert caller.wait(timeout=30) == code
        for _ in range(120):
            if not Path(f"/proc/{child}").exists():
                break
            time.sleep(0.25)
        assert not Path(f"/proc/{child}").exists(), "the child outlived its caller"


def test_turned_off_or_another_import_time_environment_is_never_served_warm(warm):
    folder, workdir, env = warm
    run(folder, workdir, env, "0")
    wait_for_server(folder)
    off = run(folder, workdir, {**env, launcher.WARM_ENV: "0"}, "0")
    assert "warm=False" in off.stdout
    other = run(folder, workdir, {**env, "OMP_NUM_THREADS": "7"}, "0")
    assert "warm=False" in other.stdout  # a different server key: this run starts its own
