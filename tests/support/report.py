"""Figures and tables that tests measure, written into docs/RELIABILITY.md on request.

Set `VODSTACK_WRITE_DOCS=1` when running the reliability tests to refresh the generated
sections of the document (between `<!-- name:start -->` and `<!-- name:end -->`) with
what this run measured. Without it the tests only print what they would write.
"""

from __future__ import annotations

import os
import re

from tests.support.processes import REPO_ROOT

RELIABILITY_DOC = REPO_ROOT / "docs" / "RELIABILITY.md"


def write_section(name: str, text: str) -> None:
    print(f"\n--- {name} ---\n{text}")
    if os.environ.get("VODSTACK_WRITE_DOCS") != "1":
        return
    document = RELIABILITY_DOC.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(document):
        raise AssertionError(f"{RELIABILITY_DOC} has no section {start} ... {end}")
    replacement = f"{start}\n{text.rstrip()}\n{end}"
    RELIABILITY_DOC.write_text(pattern.sub(lambda _match: replacement, document))
