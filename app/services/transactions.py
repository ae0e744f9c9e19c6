"""One owner of transactions: commit, rollback, and the database's refusals turned into typed errors.

A lock that cannot be had within LOCK_TIMEOUT_SECONDS (PostgreSQL `lock_timeout`, SQLite
`busy_timeout`) or a deadlock is not a failure of the portal: the parent is told to try again and
nothing was recorded (DESIGN §4).
"""
from __future__ import annotations

from sqlalchemy.exc import OperationalError

BUSY_MESSAGE = ("Beaucoup de familles réservent en ce moment : votre demande n'a pas pu aboutir. "
                "Rien n'a été enregistré, réessayez dans quelques secondes.")


def is_lock_timeout(exc: OperationalError) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(getattr(exc, "orig", None), "pgcode", None)
    if code in ("55P03", "40P01"):  # lock_not_available, deadlock_detected
        return True
    return "database is locked" in str(exc).lower()
