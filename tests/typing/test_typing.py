"""The typed API, checked by mypy --strict over usage files.

``usage_*.py`` must type-check with no error at all; ``bad_*.py`` must get an
error on exactly each line marked ``# E: <code>`` (with that code; several
codes are comma-separated, alternatives ``a|b``) and on no other line.
mypy runs once, with ``--no-incremental``, over every file; each test then
reads its file's share of the report.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CONFIG = HERE / "mypy.ini"

GOOD = sorted(path.name for path in HERE.glob("usage_*.py"))
BAD = sorted(path.name for path in HERE.glob("bad_*.py"))

_ERROR = re.compile(r"^(?P<path>[^:\n]+\.py):(?P<line>\d+): error: .*\[(?P<code>[a-z0-9-]+)\]$")
_MARK = re.compile(r"#\s*E:\s*(?P<codes>[a-z0-9|, -]+?)\s*$")


@pytest.fixture(scope="module")
def mypy_errors() -> dict[str, dict[int, set[str]]]:
    """``{file name: {line: {error codes}}}`` from one mypy run over every usage file."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            "/dev/null",
            "--no-error-summary",
            "--no-pretty",
            "--config-file",
            str(CONFIG),
            *(str(HERE / name) for name in (*GOOD, *BAD)),
        ],
        cwd=REPO,  # the package is found from the repository root
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode in (0, 1), f"mypy did not run:\n{result.stdout}\n{result.stderr}"
    errors: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for line in result.stdout.splitlines():
        if ": note: " in line:
            continue
        match = _ERROR.match(line)
        assert match, f"unexpected mypy output: {line!r}"
        path = (REPO / match["path"]).resolve()
        assert path.parent == HERE, f"error outside the usage files: {line}"
        errors[path.name][int(match["line"])].add(match["code"])
    return errors


def expected_errors(name: str) -> dict[int, list[set[str]]]:
    """``{line: [alternatives for each expected code]}`` from the ``# E:`` marks."""
    expected: dict[int, list[set[str]]] = {}
    for number, text in enumerate((HERE / name).read_text().splitlines(), start=1):
        match = _MARK.search(text)
        if match:
            codes = [code.strip() for code in match["codes"].split(",")]
            expected[number] = [set(code.split("|")) for code in codes]
    return expected


def test_every_usage_file_is_checked():
    assert {"usage_steps.py", "usage_parallel.py", "usage_engine.py"} <= set(GOOD)
    assert "bad_usage.py" in BAD
    for name in BAD:
        assert expected_errors(name), f"{name} has no # E: marks"


@pytest.mark.timeout(110)
@pytest.mark.parametrize("name", GOOD)
def test_good_usage_type_checks_cleanly(mypy_errors, name):
    found = {line: sorted(codes) for line, codes in mypy_errors.get(name, {}).items()}
    assert found == {}, f"mypy errors in {name} (line: codes)"


@pytest.mark.timeout(110)
@pytest.mark.parametrize("name", BAD)
def test_bad_usage_fails_on_exactly_the_marked_lines(mypy_errors, name):
    expected = expected_errors(name)
    found = mypy_errors.get(name, {})
    unexpected = {line: sorted(codes) for line, codes in found.items() if line not in expected}
    assert unexpected == {}, f"errors on lines of {name} without a # E: mark"
    wrong: dict[int, str] = {}
    for line, wanted in expected.items():
        codes = found.get(line, set())
        satisfied = all(alternatives & codes for alternatives in wanted)
        explained = all(any(code in alternatives for alternatives in wanted) for code in codes)
        if not (codes and satisfied and explained):
            wanted_text = ", ".join("|".join(sorted(a)) for a in wanted)
            wrong[line] = f"expected [{wanted_text}], mypy said {sorted(codes) or 'nothing'}"
    assert wrong == {}, f"marked lines of {name} that mypy did not reject as expected"
