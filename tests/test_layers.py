"""Imports flow one way: api -> activities -> channels -> core -> workflows (and the API
never reaches into the worker's activities; workflow code imports no I/O; no two modules
of one package import each other, directly or round a circle). The contracts
are import-linter's, in pyproject.toml; this runs them with every `make test`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is a dev dependency: make install"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
