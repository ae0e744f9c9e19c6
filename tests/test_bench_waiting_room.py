"""`python -m bench.waiting_room_rush` keeps working: a tiny crowd against a slow room, end to end.

Not a benchmark (no timing is asserted): the harness drives the real room (gunicorn, PostgreSQL,
Redis, 429 + Retry-After + ticket, then the add with the pass) and its JSON says that parents were
queued, all were let in, in arrival order, with no 5xx and no overbooking.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_tiny_crowd_is_queued_and_let_in_in_arrival_order(pg_admin_url, real_redis_url, tmp_path):
    redis_url = real_redis_url.rsplit("/", 1)[0] + "/12"  # the bench empties its Redis database
    out = tmp_path / "room.json"
    env = dict(os.environ, DATABASE_URL=pg_admin_url, REDIS_URL=redis_url)
    run = subprocess.run(
        [sys.executable, "-m", "bench.waiting_room_rush", "--households", "24", "--arrival-seconds", "1",
         "--rate", "3", "--places", "12", "--weeks", "2", "--concurrency", "8", "--workers", "1",
         "--flush-redis", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["admitted"] == 24 and result["queued_at_least_once"] > 0 and result["queue_answers"] > 0
    assert (result["errors_5xx"], result["overbooked"], result["double_booked"]) == (0, 0, 0)
    assert (result["arrivals_out_of_order"], result["admissions_out_of_order"]) == (0, 0)
    assert result["households_with_a_position"] == 24
