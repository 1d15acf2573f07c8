"""The README's demo command runs the quickstart; keep it working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[3] / "examples" / "quickstart" / "demo.py"


def test_quickstart_demo_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Applying shop.0001_initial... OK" in out
    assert "deleting Ted removed 6 rows" in out
    assert "async get: A Psalm for the Wild-Built" in out
