"""The parent's side of a wish campaign (issue 15), phone-first, thin over the booking services.

/famille/voeux/                             the campaigns (periods opened by wishes) and, per child, where it stands
/famille/voeux/<child>/<period>             the child's ranked wishes: each week with a choice number and its
                                            transport, « ensemble ou pas du tout » for siblings; saved as a
                                            whole (POST), changeable until the window closes
/famille/attribution/<period>               after publication: what was given, what went to the waiting list
                                            and why (points, criteria, draw rank, each wish's round)

The same services as the JSON API (`booking.wishes`, `booking.allocation_reads`): another household's
child is a 404; a given week is paid through the waiting-list offer (`ParentWaitlistView.pay`).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import ngettext

from app.models import WaitlistTransport
from app.services.booking import allocation_reads, wishes
from app.services.errors import NotFound, ServiceError
from app.services.household.links import household_for_user
from app.views.helpers import household_required, parse_id, service_errors


def transport_value(wish: dict) -> str:
    """A saved wish's transport as the form's value: "onsite", "stop-<id>" or "any-<id>"."""
    mode, stop_id = wish["transport"]["mode"], wish["transport"]["stop_id"]
    if mode == WaitlistTransport.ONSITE or stop_id is None:
        return "onsite"
    return f"{'any' if mode == WaitlistTransport.ANY else 'stop'}-{stop_id}"


def transport_from_form(value: str | None) -> dict | None:
    value = (value or "").strip()
    if value == "onsite":
        return {"mode": WaitlistTransport.ONSITE}
    for prefix, mode in (("stop-", WaitlistTransport.BUS), ("any-", WaitlistTransport.ANY)):
        if value.startswith(prefix):
            stop_id = parse_id(value[len(prefix):])
            return {"mode": mode, "stop_id": stop_id} if stop_id is not None else None
    return None


def form_items(form, week_ids: list[int]) -> tuple[list[dict], dict[int, str], str | None]:
    """The posted form → the ranked list for the service, the per-week errors, a form-wide error.
    Each week has `rank-<id>` (empty = not wished), `transport-<id>` and `together-<id>`."""
    chosen: list[tuple[int, int]] = []
    errors: dict[int, str] = {}
    for week_id in week_ids:
        raw = (form.get(f"rank-{week_id}") or "").strip()
        if not raw:
            continue
        rank = parse_id(raw)
        if rank is None or rank > len(week_ids):
            errors[week_id] = _("Choisissez un numéro de choix dans la liste.")
            continue
        chosen.append((rank, week_id))
    ranks = [rank for rank, _week in chosen]
    for rank, week_id in chosen:
        if ranks.count(rank) > 1:
            errors[week_id] = _("Deux semaines ont le même numéro de choix (%(rank)s) : donnez-leur des numéros "
                                "différents.", rank=rank)
    items = []
    for _rank, week_id in sorted(chosen):
        transport = transport_from_form(form.get(f"transport-{week_id}"))
        if transport is None:
            errors.setdefault(week_id, _("Choisissez le transport : un arrêt de bus, « bus ou sur place », "
                                         "ou l'accueil sur site."))
            continue
        items.append({"week_id": week_id, "transport": transport, "together": bool(form.get(f"together-{week_id}"))})
    return items, errors, None


class ParentWishesView(BaseView):
    """Rank the weeks wanted for each child during a wish campaign."""

    route_base = "/famille/voeux"
    default_view = "campaigns"

    @expose("")
    @expose("/")
    @has_access
    @household_required
    def campaigns(self, household):
        return self.render_template("parent/wishes/campaigns.html",
                                    campaigns=wishes.household_campaigns(household.id))

    @expose("/<int:child_id>/<int:period_id>", methods=["GET", "POST"])
    @has_access
    @household_required
    @service_errors(".campaigns")
    def child(self, household, child_id: int, period_id: int):
        data = wishes.child_wishes(household.id, child_id, period_id)
        period = wishes.wishes_period(period_id)
        # « Ensemble ou pas du tout » only makes sense with another child who may wish this period too.
        campaign = next((c for c in wishes.household_campaigns(household.id) if c["period"].id == period.id), None)
        siblings = campaign is not None and sum(1 for item in campaign["children"] if item["reason"] is None) > 1
        form = None
        errors: dict[int, str] = {}
        form_error = None
        status = 200
        if request.method == "POST":
            form = request.form
            items, errors, form_error = form_items(form, [w["id"] for w in data["weeks"]])
            if not errors:
                try:
                    wishes.save_wishes(household.id, child_id, period_id, items, actor=g.user)
                except ServiceError as exc:
                    if exc.http_status == 404:
                        raise
                    from app.models import db

                    db.session.rollback()
                    form_error = exc.message
                else:
                    flash(ngettext("Vœux de %(name)s enregistrés : %(num)d semaine classée. Vous pouvez les modifier "
                                   "jusqu'à la clôture des vœux.",
                                   "Vœux de %(name)s enregistrés : %(num)d semaines classées. Vous pouvez les "
                                   "modifier jusqu'à la clôture des vœux.", len(items),
                                   name=data["child"]["first_name"])
                          if items else _("Les vœux de %(name)s sont effacés.", name=data["child"]["first_name"]),
                          "success")
                    return redirect(url_for(".child", child_id=child_id, period_id=period_id))
            status = 400
            data = wishes.child_wishes(household.id, child_id, period_id)
        saved = {w["week_id"]: w for w in data["wishes"]}
        return self.render_template("parent/wishes/child.html", data=data, period=period, saved=saved, form=form,
                                    errors=errors, form_error=form_error, siblings=siblings,
                                    transport_value=transport_value), status


class ParentAllocationView(BaseView):
    """The family's allocation result, explained."""

    route_base = "/famille/attribution"
    default_view = "result"

    @expose("/<int:period_id>")
    @has_access
    @household_required
    def result(self, household, period_id: int):
        try:
            period = wishes.wishes_period(period_id)
            data = allocation_reads.explanation(household.id, period.id)
        except NotFound as exc:
            if exc.code != "no_wishes":
                abort(404)
            return self.render_template("parent/wishes/result.html", period=period, data=None, no_wishes=True)
        given = [w for w in data.get("wishes", []) if w["outcome"] == "given"]
        refused = [w for w in data.get("wishes", []) if w["outcome"] != "given"]
        return self.render_template("parent/wishes/result.html", period=period, data=data, no_wishes=False,
                                    given=given, refused=refused)


def wish_campaigns_summary() -> list[dict]:
    """For the small block of « Accueil » (its view stays as it is): the campaigns open for wishes or
    published, for the logged-in parent's household."""
    household = household_for_user(g.user) if getattr(g, "user", None) is not None else None
    if household is None:
        return []
    return [c for c in wishes.household_campaigns(household.id)
            if (c["window"] is None or c["published"]) and any(item["reason"] is None for item in c["children"])]


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentWishesView())
    appbuilder.add_view_no_menu(ParentAllocationView())
    appbuilder.app.jinja_env.globals.setdefault("wish_campaigns_summary", wish_campaigns_summary)
