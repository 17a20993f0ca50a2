"""Install what the benchmark drives, when it is missing: wrk, h2load and MLServer.

The load generators come from Debian (``apt-get install -y``, root only). MLServer
goes into its own virtualenv, ``benchmarks/.venv-mlserver``, because its pins
conflict with tensorserve's; it needs TensorFlow there too. Each function returns
what it found or why it could not, and never raises for a missing tool.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

MLSERVER_VENV = Path(__file__).resolve().parents[1] / ".venv-mlserver"
# uvloop 0.22 made asyncio.get_event_loop() raise in a fresh process, which kills
# MLServer 1.7's inference workers at start.
MLSERVER_PACKAGES = ("mlserver>=1.6,<2", "uvloop<0.22", "tensorflow-cpu>=2.18,<2.22")
INSTALL_TIMEOUT_S = 1200


@dataclasses.dataclass(frozen=True, slots=True)
class Tool:
    """An executable, or the reason there is none (``path`` empty)."""

    name: str
    path: str = ""
    reason: str = ""

    @property
    def available(self) -> bool:
        return bool(self.path)


def debian_tool(executable: str, package: str, log: Path) -> Tool:
    """``executable`` on PATH, installing Debian ``package`` first if needed and root."""
    found = shutil.which(executable)
    if found:
        return Tool(executable, found)
    if os.geteuid() != 0:
        return Tool(executable, reason=f"not installed; run `apt-get install -y {package}` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", package]
    with log.open("ab") as out:
        if subprocess.run(install, stdout=out, stderr=out, env=env, check=False).returncode:
            # A fresh machine may have no package lists yet.
            subprocess.run(["apt-get", "update", "-q"], stdout=out, stderr=out, check=False)
            subprocess.run(install, stdout=out, stderr=out, env=env, check=False)
    found = shutil.which(executable)
    return Tool(executable, found or "", "" if found else f"apt-get install {package} failed")


def mlserver(log: Path) -> Tool:
    """The ``mlserver`` executable of ``benchmarks/.venv-mlserver``, building it if absent
    (a few minutes and ~2 GB the first time)."""
    executable = MLSERVER_VENV / "bin" / "mlserver"
    python = MLSERVER_VENV / "bin" / "python"
    if executable.exists() and _imports_ok(python):
        return Tool("mlserver", str(executable))
    steps = [
        [sys.executable, "-m", "venv", str(MLSERVER_VENV)],
        [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "-q", *MLSERVER_PACKAGES],
    ]
    with log.open("ab") as out:
        for step in steps:
            try:
                code = subprocess.run(
                    step, stdout=out, stderr=out, timeout=INSTALL_TIMEOUT_S, check=False
                ).returncode
            except subprocess.TimeoutExpired:
                code = -1
            if code != 0:
                return Tool("mlserver", reason=f"building {MLSERVER_VENV.name} failed: {step[-1]}")
    if not _imports_ok(python):
        return Tool("mlserver", reason="mlserver or tensorflow does not import in its venv")
    return Tool("mlserver", str(executable))


def _imports_ok(python: Path) -> bool:
    if not python.exists():
        return False
    check = [str(python), "-c", "import mlserver, tensorflow"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(check, capture_output=True, env=env, check=False).returncode == 0
