"""A wish campaign through the services: wishes and their refusals, frozen rules, dry run, publication
(offers with the period's offer hours, the waiting list in allocation order, mails, audit), the
family's explanation and the CSV."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.services.errors import Conflict, ValidationFailed

ONSITE = {"mode": "onsite"}


def _campaign(app, factory, capacities=(1, 2), opened=True):
    from app.models import Period, db, utcnow

    cat = factory.catalog(capacities=capacities, opens_in=timedelta(days=5), closes_in=timedelta(days=9))
    with app.app_context():
        period = db.session.get(Period, cat.period_id)
        now = utcnow()
        period.opening_mode = "wishes"
        period.wishes_open_at = now - timedelta(hours=1) if opened else now + timedelta(days=1)
        period.wishes_close_at = now + timedelta(days=2)
        period.results_at = now + timedelta(days=3)
        db.session.commit()
    return cat


def _close_window(app, cat):
    from app.models import Period, db, utcnow

    with app.app_context():
        period = db.session.get(Period, cat.period_id)
        period.wishes_close_at = utcnow() - timedelta(minutes=1)
        db.session.commit()


def _save(app, family, cat, items, child=0):
    from app.services.booking import wishes

    with app.app_context():
        return wishes.save_wishes(family.id, family.child_ids[child], cat.period_id, items)


def test_wishes_are_saved_ranked_and_refused_outside_the_rules(app, factory):
    cat = _campaign(app, factory)
    family = factory.household()
    saved = _save(app, family, cat, [{"week_id": cat.week_ids[1], "transport": ONSITE},
                                     {"week_id": cat.week_ids[0], "transport": {"mode": "bus",
                                                                                "stop_id": cat.stop_ids[0]}}])
    assert [(w["rank"], w["week_id"]) for w in saved["wishes"]] == [(1, cat.week_ids[1]), (2, cat.week_ids[0])]
    with pytest.raises(ValidationFailed) as twice:
        _save(app, family, cat, [{"week_id": cat.week_ids[0], "transport": ONSITE}] * 2)
    assert twice.value.code == "duplicate_week"
    other = factory.catalog()
    with pytest.raises(ValidationFailed) as foreign:
        _save(app, family, cat, [{"week_id": other.week_ids[0], "transport": ONSITE}])
    assert foreign.value.code == "invalid_week"
    too_old = factory.household(children=[("Max", 15)])
    with pytest.raises(Conflict) as age:
        _save(app, too_old, cat, [{"week_id": cat.week_ids[0], "transport": ONSITE}])
    assert age.value.code == "age"  # the booking rule's reason
    _close_window(app, cat)
    with pytest.raises(Conflict) as closed:
        _save(app, family, cat, [])
    assert closed.value.code == "wishes_closed"


def test_rules_are_frozen_once_the_window_opens(app, factory):
    from app.services.booking import wishes

    before = _campaign(app, factory, opened=False)
    staff = factory.staff()
    with app.app_context():
        rules = wishes.save_rules(before.period_id, {"resident_points": "10", "resident_communes": "Besse-sur-Issole"},
                                  actor=staff)
        assert rules.resident_points == 10 and rules.resident_communes == ("Besse-sur-Issole",)
    opened = _campaign(app, factory)
    with app.app_context(), pytest.raises(Conflict) as frozen:
        wishes.save_rules(opened.period_id, {"resident_points": 5}, actor=staff)
    assert frozen.value.code == "rules_frozen"


def test_publish_gives_offers_and_queues_the_rest_in_allocation_order(app, factory):
    from app.models import AuditLog, MailLog, Period, WaitlistEntry, WaitlistOffer, db, utcnow
    from app.services.booking import allocation_reads, allocation_run, wishes

    cat = _campaign(app, factory, capacities=(1, 2), opened=False)
    staff = factory.staff()
    with app.app_context():
        wishes.save_rules(cat.period_id, {"resident_points": 10, "resident_communes": "Besse-sur-Issole"},
                          actor=staff)
        period = db.session.get(Period, cat.period_id)
        period.wishes_open_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
    resident = factory.household(children=[("Léa", 8), ("Hugo", 6)])
    outsider = factory.household()
    with app.app_context():
        from app.models import Household

        db.session.get(Household, outsider.id).city = "Toulon"
        db.session.commit()
    week1, week2 = cat.week_ids
    _save(app, outsider, cat, [{"week_id": week1, "transport": ONSITE}, {"week_id": week2, "transport": ONSITE}])
    _save(app, resident, cat, [{"week_id": week1, "transport": ONSITE, "together": True},
                               {"week_id": week2, "transport": ONSITE}], child=0)
    _save(app, resident, cat, [{"week_id": week1, "transport": ONSITE, "together": True}], child=1)
    with app.app_context(), pytest.raises(Conflict) as early:
        allocation_run.dry_run(cat.period_id)
    assert early.value.code == "wishes_not_closed"
    _close_window(app, cat)
    with app.app_context():
        trial = allocation_run.dry_run(cat.period_id, "tirage 42")
        report = allocation_reads.dry_run_report(trial)
        again = allocation_run.dry_run(cat.period_id, "tirage 42")
        assert trial.as_json() == again.as_json()
    # Round 1: the resident's sibling group (10 points) cannot fit in week 1 (1 place): the week is
    # closed for the round, so the outsider does not get it either. Round 2: week 2 for both.
    by_wish = {o.wish_id: o for o in trial.outcomes}
    assert sorted(o.reason or o.outcome for o in by_wish.values()) == ["full", "given", "given", "group_no_room",
                                                                        "group_no_room"]
    assert report["given"] == 2 and report["without_place"] == []
    with app.app_context():
        run = allocation_run.publish(cat.period_id, "tirage 42", actor=staff)
        assert run.seed == trial.seed
        offers = db.session.execute(select(WaitlistOffer)).scalars().all()
        period = db.session.get(Period, cat.period_id)
        assert len(offers) >= 2
        allocated = [o for o in offers if o.entry.week_id == week2]
        assert len(allocated) == 2
        assert period.offer_hours == 72
        for offer in allocated:
            assert offer.expires_at == run.published_at + timedelta(hours=72)
            assert offer.reservation.status == "held" and offer.basket.status == "offer"
        queue = db.session.execute(select(WaitlistEntry).where(WaitlistEntry.week_id == week1)
                                   .order_by(WaitlistEntry.id)).scalars().all()
        # allocation order: the resident's group first, then the outsider; the free place is then
        # offered by the publication's cascade to the outsider: one place would split the « ensemble »
        # group, so Léa and Hugo keep waiting together
        assert [e.household_id for e in queue] == [resident.id, resident.id, outsider.id]
        assert [e.status for e in queue] == ["waiting", "waiting", "offered"]
        assert db.session.execute(select(MailLog).where(MailLog.kind == "allocation_result")).scalars().all()
        audit = db.session.execute(select(AuditLog).where(AuditLog.action == "allocation.published")).scalar_one()
        assert "tirage 42" in audit.after and trial.seed in audit.after
        with pytest.raises(Conflict) as twice:
            allocation_run.publish(cat.period_id, "tirage 42", actor=staff)
        assert twice.value.code == "already_published"
        mine = allocation_reads.explanation(outsider.id, cat.period_id)
        assert mine["points"] == 0 and mine["draw_size"] == 2
        assert mine["draw_text"] in ("1 sur 2", "2 sur 2")
        texts = {w["week"]: w["text"] for w in mine["wishes"]}
        week1_text = texts[period.weeks[0].label]
        assert week1_text.startswith("complet au tour 1 ; ")
        # the group was not split: the free place's offer went to the outsider
        assert week1_text == "complet au tour 1 ; une place vous est proposée depuis la liste d'attente"
        res = allocation_reads.explanation(resident.id, cat.period_id)
        assert res["points"] == 10 and [c["code"] for c in res["criteria"]] == ["resident"]
        rows = allocation_reads.csv_rows(cat.period_id)
        assert len(rows) == 5 and {r[9] for r in rows} == {"attribuée", "refusée"}
        assert "complet au tour 1" in {r[10] for r in rows} and any(r[2] == "résident" for r in rows)


def test_the_public_value_source_is_announced_frozen_shown_and_every_trial_is_audited(app, factory):
    import json

    from app.models import AuditLog, Period, db, utcnow
    from app.services.booking import allocation_reads, allocation_run, wishes

    cat = _campaign(app, factory, opened=False)
    staff = factory.staff()
    source = "Numéros du tirage du Loto du samedi 3 janvier"
    with app.app_context():
        wishes.save_rules(cat.period_id, {"resident_points": "10", "public_value_source": source}, actor=staff)
        assert allocation_reads.public_rules(cat.period_id)["public_value_source"] == source
        period = db.session.get(Period, cat.period_id)
        period.wishes_open_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
        with pytest.raises(Conflict) as frozen:
            wishes.save_rules(cat.period_id, {"resident_points": "10", "public_value_source": "autre chose"},
                              actor=staff)
        assert frozen.value.code == "rules_frozen"
    page = app.test_client().get(f"/regles-attribution/{cat.period_id}").get_data(as_text=True)
    assert "Source de la valeur publique, annoncée avec les règles" in page and "Loto du samedi 3 janvier" in page
    _save(app, factory.household(), cat, [{"week_id": cat.week_ids[0], "transport": ONSITE}])
    _close_window(app, cat)
    with app.app_context():
        allocation_run.dry_run(cat.period_id, "7 12 25", actor=staff)
        allocation_run.dry_run(cat.period_id, "8 13 26", actor=staff)
        allocation_run.dry_run(cat.period_id)
        trials = db.session.execute(select(AuditLog).where(AuditLog.action == "allocation.dry_run")
                                    .order_by(AuditLog.id)).scalars().all()
        assert [json.loads(t.after)["public_value"] if isinstance(t.after, str) else t.after["public_value"]
                for t in trials] == ["7 12 25", "8 13 26", "essai"]
        assert trials[0].actor_id == staff.id
        with pytest.raises(ValidationFailed):
            allocation_run.publish(cat.period_id, "  ", actor=staff)
        run = allocation_run.publish(cat.period_id, "7 12 25", actor=staff)
        assert run.public_value == "7 12 25" and json.loads(run.rules_json)["public_value_source"] == source
        assert allocation_reads.public_rules(cat.period_id)["public_value_source"] == source


def test_a_wish_blocked_at_allocation_time_is_explained_in_french(app, factory):
    """The child grew out of the age range between its wish and the allocation: the family and the
    CSV read the booking rule's message, not the code « age »."""
    from app.models import Child, db
    from app.services.booking import allocation_reads, allocation_run

    cat = _campaign(app, factory)
    family = factory.household(children=[("Zoé", 8)])
    _save(app, family, cat, [{"week_id": cat.week_ids[0], "transport": ONSITE}])
    with app.app_context():
        child = db.session.get(Child, family.child_ids[0])
        child.birth_date = child.birth_date.replace(year=child.birth_date.year - 10)
        db.session.commit()
    _close_window(app, cat)
    with app.app_context():
        allocation_run.publish(cat.period_id, "Loto 1 2 3")
        (row,) = allocation_reads.explanation(family.id, cat.period_id)["wishes"]
        assert row["outcome"] == "refused" and row["reason"] == "age"
        assert row["text"].startswith("non attribuable : Réservé aux enfants de ") and "Zoé aura" in row["text"]
        assert "(age)" not in row["text"]
        (line,) = allocation_reads.csv_rows(cat.period_id)
        assert line[-1] == row["text"]
