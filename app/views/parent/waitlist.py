"""The parent's waiting lists (/famille/liste-attente), phone-first, thin over the waiting-list service.

/famille/liste-attente                  my entries (rank, offers with their deadline), and the full weeks
                                        each child could wait for, with the transport wanted
                                        (?enfant=…&semaine=… from the booking page: that week's form first)
/famille/liste-attente/<entry>          the same page, from the offer's mail (another family's id: 404)
POST …/rejoindre                        join (child, week, transport)
POST …/<entry>/quitter                  leave, or decline an offer (the place passes on at once)
POST …/<entry>/payer                    pay an offer: it becomes the basket and the payment page opens

The offer is paid through the ordinary checkout and fulfilment (`payments.start_checkout`).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.models import WaitlistTransport
from app.services import payments
from app.services.booking import waitlist
from app.services.household.links import household_for_user
from app.views.helpers import household_required, parse_id, service_errors


def _transport_from_form(value: str | None) -> dict | None:
    """"onsite", "stop-<id>" (the bus) or "any-<id>" (bus or on site) → the service's transport."""
    value = (value or "").strip()
    if value == WaitlistTransport.ONSITE:
        return {"mode": WaitlistTransport.ONSITE}
    for prefix, mode in (("stop-", WaitlistTransport.BUS), ("any-", WaitlistTransport.ANY)):
        if value.startswith(prefix):
            stop_id = parse_id(value[len(prefix):])
            return {"mode": mode, "stop_id": stop_id} if stop_id is not None else None
    return None


class ParentWaitlistView(BaseView):
    """Join, follow and leave waiting lists; pay the place offered."""

    route_base = "/famille/liste-attente"
    default_view = "entries"

    @expose("")
    @expose("/")
    @has_access
    @household_required
    def entries(self, household):
        return self._render(household.id)

    @expose("/<int:entry_id>")
    @has_access
    @household_required
    def entry(self, household, entry_id: int):
        items = waitlist.household_entries(household.id)
        if not any(item["id"] == entry_id for item in items):
            abort(404)
        return self._render(household.id, focus=entry_id, items=items)

    def _render(self, household_id: int, *, focus: int | None = None, items: list[dict] | None = None,
                errors: dict | None = None, status: int = 200):
        items = items if items is not None else waitlist.household_entries(household_id)
        waiting = {(item["child"]["id"], item["week"]["id"]) for item in items if item["status"] in ("waiting",
                                                                                                      "offered")}
        joinable = waitlist.joinable_weeks(household_id, waiting)
        # From a full week of the booking page: its form comes first and is highlighted.
        wanted = (parse_id(request.args.get("enfant")), parse_id(request.args.get("semaine")))
        join_focus = wanted if None not in wanted else None
        if join_focus is not None:
            for group in joinable:
                if group["child"].id == join_focus[0]:
                    group["weeks"].sort(key=lambda w: w["week"].id != join_focus[1])
            joinable.sort(key=lambda group: group["child"].id != join_focus[0])
        return self.render_template("parent/waitlist/entries.html", items=items, focus=focus,
                                    joinable=joinable, join_focus=join_focus, errors=errors or {}), status

    @expose("/rejoindre", methods=["POST"])
    @has_access
    @household_required
    @service_errors(".entries")
    def join(self, household):
        child_id = parse_id(request.form.get("child_id"))
        week_id = parse_id(request.form.get("week_id"))
        if child_id is None or week_id is None:
            abort(404)
        transport = _transport_from_form(request.form.get("transport"))
        if transport is None:
            return self._render(household.id, errors={(child_id, week_id): _(
                "Choisissez le transport souhaité : un arrêt de bus, « bus ou sur place », ou l'accueil sur site.")},
                status=400)
        result = waitlist.join(household.id, child_id, week_id, transport, actor=g.user)
        flash(_("Votre enfant est inscrit sur la liste d'attente : %(rank)s sur la liste. Nous vous écrirons dès "
                "qu'une place se libère.", rank=rank_label(result["position"])), "success")
        return redirect(url_for(".entries"))

    @expose("/<int:entry_id>/quitter", methods=["POST"])
    @has_access
    @household_required
    @service_errors(".entries")
    def leave(self, household, entry_id: int):
        waitlist.leave(household.id, entry_id, actor=g.user)
        flash(_("Votre enfant a été retiré de la liste d'attente."), "success")
        return redirect(url_for(".entries"))

    @expose("/<int:entry_id>/payer", methods=["POST"])
    @has_access
    @household_required
    @service_errors(".entries")
    def pay(self, household, entry_id: int):
        waitlist.claim_offer(household.id, entry_id, actor=g.user)
        result = payments.start_checkout(household.id, actor=g.user)
        if result.payment_url is None:
            flash(_("L'inscription est confirmée : le montant était de 0 €."), "success")
            return redirect(url_for("ParentReservationsView.reservations"))
        return redirect(result.payment_url, code=303)


def rank_label(position: int | None) -> str:
    """« 1ʳᵉ », « 3ᵉ »: the rank as French writes it."""
    if not position:
        return ""
    return "1ʳᵉ" if position == 1 else f"{position}ᵉ"


def waitlist_summary() -> dict:
    """For the small blocks of « Accueil » and « Mes inscriptions » (their views stay as they are):
    the logged-in parent's running offers and how many entries wait."""
    household = household_for_user(g.user) if getattr(g, "user", None) is not None else None
    if household is None:
        return {"offers": [], "waiting": 0}
    items = waitlist.household_entries(household.id, active_only=True)
    return {"offers": [item for item in items if item["status"] == "offered"],
            "waiting": sum(1 for item in items if item["status"] == "waiting")}


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentWaitlistView())
    appbuilder.app.jinja_env.filters.setdefault("rank_fr", rank_label)
    appbuilder.app.jinja_env.globals.setdefault("waitlist_summary", waitlist_summary)
