"""The scripts under ``examples/`` run and do what their docstrings promise.

Each example's ``main()`` is imported and run against a database in
``tmp_path``; the crash-and-resume examples are first run as a subprocess
that really dies mid-run (``os._exit(1)``), then resumed by a second
invocation. Every script also runs as ``python examples/<name>.py``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (examples are scripts, not a package)."""
    module_name = f"reflow_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *args: str, cwd: Path, check: bool = True):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.timeout(30)
def test_quickstart_completes_its_two_steps(tmp_path):
    result = run_script("quickstart", cwd=tmp_path)
    assert re.search(r"^run [0-9a-f-]{36}: completed$", result.stdout, re.MULTILINE)
    assert re.search(
        r"^\s+charge\s+completed\s+attempts=1 output=\{'charge_id': 'ch_o-1'\}$",
        result.stdout,
        re.MULTILINE,
    )
    assert re.search(
        r"^\s+ship\s+completed\s+attempts=1 output=\{'tracking': 'TRK-ch_o-1'\}$",
        result.stdout,
        re.MULTILINE,
    )
    assert (tmp_path / "quickstart.db").exists(), "the database is a local file"


def test_the_readme_quick_start_is_the_example_verbatim():
    readme = (EXAMPLES.parent / "README.md").read_text()
    source = (EXAMPLES / "quickstart.py").read_text()
    assert "```python\n" + source + "```" in readme


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["saas_signup", "parallel_enrichment"])
def test_example_runs_as_a_script(tmp_path, name):
    result = run_script(name, str(tmp_path / "demo.db"), cwd=tmp_path)
    assert re.search(r": completed$", result.stdout, re.MULTILINE)


@pytest.mark.timeout(30)
def test_saas_signup_compensates_the_failed_signup_and_keeps_the_good_one(tmp_path):
    outcome = load("saas_signup").main(str(tmp_path / "saas.db"))
    ada = outcome["customers"]["ada@example.com"]
    bob = outcome["customers"]["bob@example.com"]

    assert ada["status"] == "completed"
    assert ada["steps"] == {
        "create-account": ("completed", 1),
        "charge-card": ("completed", 1),
        "provision": ("completed", 1),
        "send-welcome": ("completed", 1),
    }
    assert ada["has_account"]
    assert ada["charged_cents"] == 4900
    assert not ada["refunded"]
    assert ada["welcomed"]

    assert bob["status"] == "failed"
    assert bob["failed_step"] == "provision"
    assert bob["error"] == "ProvisioningError: no capacity in region mars-1"
    assert bob["steps"]["provision"] == ("failed", 2), "provision was retried once"
    assert "send-welcome" not in bob["steps"]
    assert bob["charged_cents"] == 4900
    assert bob["refunded"], "on_failure refunded the charge"
    assert not bob["has_account"], "on_failure deleted the account"
    assert not bob["welcomed"]

    log = outcome["log"]
    bob_log = [line for line in log if "bob@" in line]
    assert bob_log == [
        "create account bob@example.com",
        "charge bob@example.com 4900",
        "provision bob@example.com in mars-1 failed",
        "provision bob@example.com in mars-1 failed",
        "compensate bob@example.com after provision",
        "refund bob@example.com 4900",
        "delete account bob@example.com",
    ]
    assert not any(line.startswith(("refund", "delete")) and "ada@" in line for line in log)


def import_log(warehouse: Path) -> list[tuple[int, int]]:
    with closing(sqlite3.connect(warehouse)) as connection:
        return connection.execute("SELECT batch, pid FROM import_log ORDER BY rowid").fetchall()


@pytest.mark.timeout(60)
def test_resumable_import_resumes_after_a_crash_without_reimporting_batches(tmp_path):
    db = tmp_path / "import.db"
    crashed = run_script(
        "resumable_import", "--db", str(db), "--crash-after", "2", cwd=tmp_path, check=False
    )
    assert crashed.returncode == 1, crashed.stderr
    assert "simulated crash as batch 3 begins" in crashed.stdout
    warehouse = tmp_path / "import-warehouse.sqlite"
    first = import_log(warehouse)
    assert [batch for batch, _pid in first] == [1, 2]
    assert {pid for _batch, pid in first} != {os.getpid()}

    example = load("resumable_import")
    resumed = example.main(str(db))
    assert resumed["status"] == "completed"
    assert resumed["imported_here"] == [3, 4, 5], "resumed at the batch the crash interrupted"
    assert resumed["imports_per_batch"] == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    assert resumed["rows_in_warehouse"] == example.ROWS
    assert resumed["attempts"] == {
        "batch-1": 1,
        "batch-2": 1,
        "batch-3": 2,  # the crashed attempt counts
        "batch-4": 1,
        "batch-5": 1,
        "verify": 1,
    }

    again = example.main(str(db))
    assert again["run_id"] == resumed["run_id"], "the same import is the same run"
    assert again["imported_here"] == []
    assert again["imports_per_batch"] == resumed["imports_per_batch"]


@pytest.mark.timeout(60)
def test_ai_pipeline_does_not_pay_twice_for_a_summary_made_before_a_crash(tmp_path):
    db = tmp_path / "ai.db"
    crashed = run_script(
        "ai_pipeline", "--db", str(db), "--crash-after-summarize", cwd=tmp_path, check=False
    )
    assert crashed.returncode == 1, crashed.stderr
    assert "simulated crash after summarize" in crashed.stdout

    example = load("ai_pipeline")
    resumed = example.main(str(db))
    assert resumed["status"] == "completed"
    calls = [(call["step"], call["pid"] == os.getpid()) for call in resumed["llm_calls"]]
    assert calls == [("summarize", False), ("extract", True)], "each paid step billed once"
    assert resumed["attempts"] == {"scrape": 1, "summarize": 1, "extract": 2, "store": 1}
    assert resumed["total_cents"] == sum(call["cents"] for call in resumed["llm_calls"]) > 0
    document = resumed["document"]
    assert document["summary"] == "Acme Corp launched Rocket Skates in Phoenix today."
    assert "Wile Coyote" in document["entities"].split(", ")

    again = example.main(str(db))
    assert again["run_id"] == resumed["run_id"]
    assert again["llm_calls"] == resumed["llm_calls"], "a finished run is never paid for again"


@pytest.mark.timeout(30)
def test_parallel_enrichment_retries_the_timed_out_branch_and_merges_all_three(tmp_path):
    outcome = load("parallel_enrichment").main(str(tmp_path / "enrich.db"))
    assert outcome["status"] == "completed"
    assert outcome["steps"] == {
        "fetch-customer": ("completed", 1),
        "geo": ("completed", 1),
        "credit": ("completed", 2),  # attempt 1 timed out, attempt 2 succeeded
        "social": ("completed", 1),
        "merge": ("completed", 1),
    }
    assert outcome["profile"] == {
        "customer_id": "c-42",
        "name": "Grace",
        "country": "NL",
        "score": 712,
        "followers": 1234,
        "risk": "low",
    }
