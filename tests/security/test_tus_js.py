"""The upload form's tus helpers, tested under node's own test runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).with_name("tus_js.test.mjs")


def test_tus_helpers_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (scripts/install.sh installs it)")
    result = subprocess.run(
        [node, "--test", str(TESTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
