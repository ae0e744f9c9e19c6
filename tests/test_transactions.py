"""The one transaction helper (app.services.transactions): commit, rollback, typed refusals, nesting.

Rows are provider events (no foreign key to build first, and a real unique constraint,
`uq_provider_event`, to refuse a duplicate). Visibility is checked from a connection of its own,
as another request would see it.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError

from app.services.errors import Busy, Conflict, ServiceError
from app.services.transactions import (
    BUSY_MESSAGE,
    in_unit_of_work,
    refusals_as_errors,
    transactional,
    typed_error,
    unit_of_work,
)

DUPLICATES = {"uq_provider_event": lambda: Conflict("Déjà reçu.", code="duplicate_event"),
              "provider_event.provider": lambda: Conflict("Déjà reçu.", code="duplicate_event")}


def _event(event_id: str):
    from app.models import ProviderEvent

    return ProviderEvent(provider="test", event_id=event_id, type="test.event", payload="{}")


def _seen_elsewhere(app) -> list[str]:
    """Event ids committed, read through a separate engine (another process's view)."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT event_id FROM provider_event ORDER BY event_id")).scalars())
    finally:
        engine.dispose()


@pytest.fixture
def commits(app):
    """How many times the session really committed (the after_commit event, as tasks.defer uses)."""
    from app.models import db

    seen: list[int] = []
    with app.app_context():
        session = db.session()
        listener = lambda _session: seen.append(1)  # noqa: E731
        event.listen(session, "after_commit", listener)
        yield seen
        event.remove(session, "after_commit", listener)
        db.session.remove()


def test_the_block_commits_on_success(app, commits):
    from app.models import db

    with unit_of_work():
        db.session.add(_event("evt_ok"))
        assert in_unit_of_work()
    assert not in_unit_of_work()
    assert commits == [1]
    assert _seen_elsewhere(app) == ["evt_ok"]


def test_any_exception_rolls_back_and_goes_through_unchanged(app, commits):
    from app.models import db

    with pytest.raises(ZeroDivisionError):
        with unit_of_work():
            db.session.add(_event("evt_lost"))
            db.session.flush()
            raise ZeroDivisionError("a bug in the block")
    with pytest.raises(Conflict) as refused:
        with unit_of_work():
            db.session.add(_event("evt_lost_too"))
            raise Conflict("Complet.", code="full")
    assert refused.value.code == "full"
    assert commits == [] and not db.session().in_transaction()
    assert _seen_elsewhere(app) == []
    assert not in_unit_of_work()  # the depth is restored after a failure too


def test_a_duplicate_key_becomes_the_typed_error_the_caller_named(app):
    from app.models import ProviderEvent, db

    with app.app_context():
        with unit_of_work():
            db.session.add(_event("evt_twice"))
        with pytest.raises(Conflict) as refused:
            with unit_of_work(DUPLICATES):
                db.session.add(_event("evt_other"))
                db.session.add(_event("evt_twice"))
        assert refused.value.code == "duplicate_event"
        assert isinstance(refused.value.__cause__, IntegrityError)
        # The session was rolled back, not left failed: it serves the next request.
        assert db.session.execute(select(func.count()).select_from(ProviderEvent)).scalar() == 1
        db.session.remove()
    assert _seen_elsewhere(app) == ["evt_twice"]


def test_a_duplicate_nobody_named_stays_an_integrity_error(app):
    """An unexpected unique violation is a bug to see, not a message to hide."""
    from app.models import db

    with app.app_context():
        with unit_of_work():
            db.session.add(_event("evt_dup"))
        with pytest.raises(IntegrityError):
            with unit_of_work({"uq_some_other_rule": lambda: Conflict("?")}):
                db.session.add(_event("evt_dup"))
        assert not db.session().in_transaction()
        db.session.remove()


def test_a_nested_block_joins_the_outer_one(app, commits):
    from app.models import db

    with unit_of_work():
        db.session.add(_event("evt_outer"))
        with unit_of_work():
            db.session.add(_event("evt_inner"))
        assert commits == []  # the inner block did not commit half of the outer one's work
        assert db.session().in_transaction()
        assert _seen_elsewhere(app) == []
    assert commits == [1]
    assert _seen_elsewhere(app) == ["evt_inner", "evt_outer"]


def test_a_failure_inside_a_nested_block_undoes_the_whole_transaction(app, commits):
    from app.models import db

    with pytest.raises(Conflict):
        with unit_of_work():
            db.session.add(_event("evt_outer"))
            with unit_of_work(DUPLICATES):
                db.session.add(_event("evt_inner"))
                raise Conflict("Complet.", code="full")
    assert commits == [] and _seen_elsewhere(app) == []


def test_deferred_jobs_leave_only_after_the_outermost_commit(app):
    from app.models import db
    from app.services import tasks

    queue = tasks.get_queue(app)
    with app.app_context():
        with unit_of_work():
            with unit_of_work():
                tasks.defer(db.session, "tests.test_transactions.not_a_job", 1)
            assert queue.count == 0  # still inside the outer transaction
        assert queue.count == 1
        with pytest.raises(Conflict):
            with unit_of_work():
                tasks.defer(db.session, "tests.test_transactions.not_a_job", 2)
                raise Conflict("Complet.", code="full")
        assert queue.count == 1  # a rolled-back block schedules nothing
        db.session.remove()


def test_transactional_decorator(app):
    from app.models import db

    @transactional
    def record(event_id: str) -> str:
        db.session.add(_event(event_id))
        return event_id

    @transactional(duplicates=DUPLICATES)
    def record_checked(event_id: str) -> None:
        db.session.add(_event(event_id))

    with app.app_context():
        assert record("evt_deco") == "evt_deco"
        assert record.__name__ == "record"
        with pytest.raises(Conflict):
            record_checked("evt_deco")
        db.session.remove()
    assert _seen_elsewhere(app) == ["evt_deco"]


def test_refusals_as_errors_translates_without_ending_the_transaction(app):
    from app.models import db

    with app.app_context():
        db.session.add(_event("evt_kept"))
        db.session.flush()
        with pytest.raises(Conflict):
            with refusals_as_errors(DUPLICATES):
                with db.session.begin_nested():
                    db.session.add(_event("evt_kept"))
        assert db.session().in_transaction()  # the caller still owns it: commit what it had
        db.session.commit()
        db.session.remove()
    assert _seen_elsewhere(app) == ["evt_kept"]


def test_typed_error_leaves_other_failures_alone():
    assert typed_error(ValueError("no")) is None
    assert typed_error(Conflict("non")) is None
    locked = typed_error(_operational("database is locked"))
    assert isinstance(locked, Busy) and locked.code == "busy" and locked.message == BUSY_MESSAGE
    assert typed_error(_operational("no such table: x")) is None


def _operational(message: str):
    from sqlalchemy.exc import OperationalError

    return OperationalError("SELECT 1", {}, Exception(message))


# --- PostgreSQL: a real lock held by a real second connection --------------------------------

@pytest.mark.postgres
def test_a_lock_timeout_becomes_busy_and_nothing_is_written(pg_app, pg_url, pg_factory):
    """Another connection holds a row; the block gives up after its lock_timeout, answers Busy in
    French, and what it had written before waiting is rolled back."""
    from app.models import ProviderEvent, db

    with pg_app.app_context():
        with unit_of_work():
            db.session.add(_event("evt_locked"))
        row_id = db.session.execute(select(ProviderEvent.id)).scalar_one()
        db.session.remove()

    holder = create_engine(pg_url)
    conn = holder.connect()
    outcome: dict[str, object] = {}
    try:
        conn.execute(text("SELECT id FROM provider_event WHERE id = :id FOR UPDATE"), {"id": row_id}).one()

        def blocked_request():
            with pg_app.app_context():
                try:
                    with unit_of_work():
                        db.session.add(_event("evt_written_before_waiting"))
                        db.session.flush()
                        db.session.execute(text("SET LOCAL lock_timeout = '300ms'"))
                        db.session.execute(select(ProviderEvent).where(ProviderEvent.id == row_id)
                                           .with_for_update()).scalar_one()
                    outcome["result"] = "locked the row"
                except ServiceError as exc:
                    outcome["error"] = exc
                    outcome["usable"] = db.session.execute(text("SELECT 1")).scalar()
                except Exception as exc:  # a crash is a failure of the test
                    outcome["crash"] = exc
                finally:
                    db.session.remove()

        thread = threading.Thread(target=blocked_request)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the block waited for the lock instead of timing out"
    finally:
        conn.rollback()
        conn.close()
        holder.dispose()

    assert "crash" not in outcome and "result" not in outcome, outcome
    error = outcome["error"]
    assert isinstance(error, Busy) and error.code == "busy" and error.message == BUSY_MESSAGE
    assert outcome["usable"] == 1  # rolled back, not left in a failed transaction
    assert _seen_elsewhere(pg_app) == ["evt_locked"]


@pytest.mark.postgres
def test_a_duplicate_key_on_postgresql_is_named_by_its_constraint(pg_app, pg_factory):
    from app.models import db

    with pg_app.app_context():
        with unit_of_work():
            db.session.add(_event("evt_pg"))
        with pytest.raises(Conflict) as refused:
            with unit_of_work({"uq_provider_event": DUPLICATES["uq_provider_event"]}):
                db.session.add(_event("evt_pg"))
        assert refused.value.code == "duplicate_event"
        db.session.remove()
