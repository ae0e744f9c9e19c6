"""`python -m bench.rush` keeps working: a tiny rush (20 households for 12 places) end to end.

Not a benchmark (no timing is asserted): it checks that the harness still drives the real
journey (gunicorn, RQ worker, JWT login → offers → basket → checkout → sandbox payment) and that
its JSON and exit status say what the database says.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.rush import RESULT_KEYS

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_tiny_rush_books_every_place_once_and_reports_it(pg_admin_url, real_redis_url, tmp_path):
    redis_url = real_redis_url.rsplit("/", 1)[0] + "/11"  # the bench empties its Redis database
    out = tmp_path / "rush.json"
    env = dict(os.environ, DATABASE_URL=pg_admin_url, REDIS_URL=redis_url)
    run = subprocess.run(
        [sys.executable, "-m", "bench.rush", "--households", "20", "--places", "12", "--weeks", "2",
         "--concurrency", "8", "--workers", "1", "--threads", "4", "--baseline-seconds", "1",
         "--flush-redis", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert tuple(result) == RESULT_KEYS
    assert json.loads(run.stdout) == result
    assert (result["households"], result["places"]) == (20, 12)
    assert (result["overbooked"], result["double_booked"], result["errors_5xx"]) == (0, 0, 0)
    # 20 households want 1 to 3 weeks each: every place is taken, paid lines are "booked".
    assert 0 < result["booked"] <= 12
    assert result["add_rps"] > 0 and result["baseline_rps"] > 0 and result["add_p50_ms"] > 0
    assert "paid" in run.stderr  # the journeys went as far as the payment


def test_adds_only_from_two_generator_processes_counts_every_answer(pg_admin_url, real_redis_url, tmp_path):
    """`--adds-only --processes 2`: the households are dealt to two forked generators and every answer
    comes back into one tally (20 offers pages, 20 adds: 12 places held, 8 « complet »)."""
    redis_url = real_redis_url.rsplit("/", 1)[0] + "/11"
    out = tmp_path / "adds.json"
    env = dict(os.environ, DATABASE_URL=pg_admin_url, REDIS_URL=redis_url)
    run = subprocess.run(
        [sys.executable, "-m", "bench.rush", "--adds-only", "--households", "20", "--places", "12",
         "--concurrency", "4", "--workers", "1", "--processes", "2", "--baseline-seconds", "1",
         "--flush-redis", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["generator_processes"] == 2
    assert (result["overbooked"], result["double_booked"], result["errors_5xx"]) == (0, 0, 0)
    assert result["held"] == 12 and result["add_statuses"] == {"201": 12, "409": 8}
    assert result["health_before_rps"] > 0 and result["offers_rps"] > 0
