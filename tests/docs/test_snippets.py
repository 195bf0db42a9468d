"""Every code file the documentation shows runs, and prints what the pages say it prints.

Each ``docs/snippets/*.py`` runs as a script (``sys.executable``) in a fresh
temporary directory, with a timeout, and must exit 0. Where a page shows the
output, it comes from ``docs/snippets/<name>.out``, and the script's output must
match it line by line (``…`` in an expected line matches any text).
``cli_tour.sh`` runs with ``reflow`` on ``PATH``. The pages themselves are
checked too: every ``--8<--`` include names a file (and section) that exists,
every snippet is shown somewhere, and no code block of more than a few lines is
typed into a page instead of included.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SNIPPETS = DOCS / "snippets"
SCRIPTS = sorted(SNIPPETS.glob("*.py"))
# Pages written and checked elsewhere (the PostgreSQL adapter's page needs a server).
FOREIGN_PAGES = {"postgres.md"}
INLINE_LINES = 3  # a fenced block longer than this must be an include
TIMEOUT = 90  # seconds per script; each takes about a second on an idle machine

INCLUDE = re.compile(r'^\s*--8<--\s+"([^"]+)"\s*$')
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")


def run_script(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "100"}
    env.pop("REFLOW_DB", None)
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def line_matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, actual) is not None


def assert_output(expected_file: Path, stdout: str) -> None:
    expected = [line.rstrip() for line in expected_file.read_text().splitlines()]
    actual = [line.rstrip() for line in stdout.splitlines()]
    explain = f"{expected_file.name} no longer matches the output:\n{stdout}"
    assert len(expected) == len(actual), explain
    mismatch = [
        (number, want, got)
        for number, (want, got) in enumerate(zip(expected, actual, strict=True), start=1)
        if not line_matches(want, got)
    ]
    assert not mismatch, f"first differing lines: {mismatch[:3]}\n{explain}"


@pytest.mark.timeout(TIMEOUT + 30)
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_snippet_runs_and_prints_what_the_docs_show(script: Path, tmp_path: Path) -> None:
    result = run_script(script, tmp_path)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
    expected = script.with_suffix(".out")
    if expected.exists():
        assert_output(expected, result.stdout)


def test_there_are_snippets_and_each_has_expected_output_or_a_reason() -> None:
    assert len(SCRIPTS) >= 15
    # cli_app.py prints a fresh run id; the tour below exercises it.
    without = {path.name for path in SCRIPTS if not path.with_suffix(".out").exists()}
    assert without <= {"cli_app.py"}, f"add a .out file for {sorted(without)}"


def reflow_on_path(directory: Path) -> dict[str, str]:
    """An environment whose PATH has ``reflow`` and ``python`` for this interpreter."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    for name, command in (("reflow", "-m reflow_actors "), ("python", "")):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" {command}"$@"\n')
        shim.chmod(0o755)
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("REFLOW_DB", None)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.timeout(120)
def test_cli_tour_runs_against_a_worker(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None, "the CLI tour is a bash script"
    work = tmp_path / "app"
    work.mkdir()
    for name in ("cli_app.py", "cli_tour.sh"):
        shutil.copy(SNIPPETS / name, work / name)
    result = subprocess.run(
        [bash, "cli_tour.sh"],
        cwd=work,
        env=reflow_on_path(tmp_path),
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    out = result.stdout
    assert re.search(r"^ID\s+WORKFLOW\s+STATUS", out, re.MULTILINE), out
    assert re.search(r"^request\s+completed\s+1\b", out, re.MULTILINE), out
    assert 'delivered event "decision"' in out
    assert '"status": "completed"' in out
    assert "worker stopped" in out


# --- the pages -------------------------------------------------------------------------


def pages() -> list[Path]:
    return sorted(
        path
        for path in DOCS.rglob("*.md")
        if path.relative_to(DOCS).as_posix() not in FOREIGN_PAGES
    )


def includes(page: Path) -> list[str]:
    return [
        match.group(1)
        for line in page.read_text().splitlines()
        if (match := INCLUDE.match(line)) is not None
    ]


def test_every_include_names_an_existing_file_and_section() -> None:
    problems = []
    for page in pages():
        for target in includes(page):
            path, _, section = target.partition(":")
            file = ROOT / path
            if not file.is_file():
                problems.append(f"{page.name}: no file {path}")
                continue
            if section and f"--8<-- [start:{section}]" not in file.read_text():
                problems.append(f"{page.name}: no section {section!r} in {path}")
    assert not problems, "\n".join(problems)


def test_every_snippet_is_shown_on_some_page() -> None:
    shown = {target.partition(":")[0] for page in pages() for target in includes(page)}
    files = [path for path in SNIPPETS.iterdir() if path.suffix in {".py", ".out", ".sh"}]
    missing = sorted(path.name for path in files if path.relative_to(ROOT).as_posix() not in shown)
    assert not missing, f"snippets no page includes: {missing}"


def fenced_blocks(page: Path) -> list[tuple[int, list[str]]]:
    """The code blocks of a page (diagrams in ``mermaid`` fences are not code)."""
    blocks: list[tuple[int, list[str]]] = []
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        marker = opening.group(2)
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(marker):
            body.append(lines[index])
            index += 1
        if opening.group(3).strip() != "mermaid":
            blocks.append((start + 1, body))
        index += 1
    return blocks


def test_code_on_the_pages_is_included_not_typed_in() -> None:
    typed = []
    for page in pages():
        for line_number, body in fenced_blocks(page):
            real = [line for line in body if line.strip()]
            if all(INCLUDE.match(line) for line in real):
                continue
            if len(real) > INLINE_LINES:
                typed.append(f"{page.relative_to(DOCS)}:{line_number} ({len(real)} lines)")
    assert not typed, "include these from docs/snippets instead:\n" + "\n".join(typed)


@pytest.mark.timeout(600)
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip(
        "mkdocs",
        reason="mkdocs is not installed; the site is built by `tox -e docs` (extra: docs)",
    )
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] missing")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "index.html").exists()
