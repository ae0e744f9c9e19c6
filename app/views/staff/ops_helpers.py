"""Small helpers shared by the staff operation screens (lists, dashboard, desk, journal)."""
from __future__ import annotations

from datetime import date, datetime

from flask import Response, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.models import Circuit, Establishment, Period, Week, db
from app.services.localize import paris_today
from app.views.helpers import parse_id


def int_arg(name: str, source=None) -> int | None:
    """A positive id (or page number) from the query string or a form; anything else is None (never
    a 500): ASCII digits up to the INTEGER columns' bound, see app.views.helpers.parse_id."""
    return parse_id((source if source is not None else request.args).get(name))


def date_arg(name: str, source=None) -> date | None:
    raw = ((source if source is not None else request.args).get(name) or "").strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    return None


def csv_response(data: bytes, filename: str) -> Response:
    return Response(data, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Content-Type": "text/csv; charset=utf-8",
        "Cache-Control": "no-store",
    })


def filter_choices(establishment_id: int | None, period_id: int | None, *, with_circuits: bool = False) -> dict:
    """Options of the filter forms: establishments, periods (of the chosen establishment), weeks
    (of the chosen period, else of the current periods), circuits. A fixed number of queries."""
    establishments = db.session.execute(select(Establishment).order_by(Establishment.name)).scalars().all()
    periods_q = select(Period).options(joinedload(Period.establishment)).order_by(Period.starts_on.desc(), Period.id)
    if establishment_id:
        periods_q = periods_q.where(Period.establishment_id == establishment_id)
    periods = db.session.execute(periods_q).scalars().all()
    weeks_q = (select(Week).join(Period, Period.id == Week.period_id)
               .options(joinedload(Week.period).joinedload(Period.establishment))
               .order_by(Week.starts_on, Week.id))
    if period_id:
        weeks_q = weeks_q.where(Week.period_id == period_id)
    else:
        if establishment_id:
            weeks_q = weeks_q.where(Period.establishment_id == establishment_id)
        # Without a period, the weeks of periods not over for more than two months.
        weeks_q = weeks_q.where(Period.ends_on >= date.fromordinal(paris_today().toordinal() - 60))
    weeks = db.session.execute(weeks_q).scalars().all()
    circuits = []
    if with_circuits:
        circuits_q = (select(Circuit).join(Period, Period.id == Circuit.period_id)
                      .options(joinedload(Circuit.period).joinedload(Period.establishment))
                      .order_by(Period.starts_on.desc(), Circuit.name))
        if period_id:
            circuits_q = circuits_q.where(Circuit.period_id == period_id)
        elif establishment_id:
            circuits_q = circuits_q.where(Period.establishment_id == establishment_id)
        circuits = db.session.execute(circuits_q).scalars().all()
    return {"establishments": establishments, "periods": periods, "weeks": weeks, "circuits": circuits}
