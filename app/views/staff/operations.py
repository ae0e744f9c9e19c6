"""Staff operations: lists for the day (roster, bus, on site) on screen, on paper and in CSV, the
dashboard (occupancy and takings), the audit journal and the mail log.

Views are thin: they read filters, call app.services.operations.reports / csv_export and render. Every page
runs a fixed number of SQL queries whatever the number of rows (see tests/test_query_counts.py).
"""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta

from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import func, select

from app.models import AuditLog, Circuit, Household, MailLog, db
from app.services.errors import ServiceError
from app.services.localize import MAIL_KIND_LABELS, MAIL_STATUS_LABELS, PAYMENT_METHOD_LABELS, label
from app.services.operations import csv_export, reports
from app.views.filters import PARIS, datetime_fr
from app.views.helpers import parse_id

from .ops_helpers import csv_response, date_arg, filter_choices, int_arg, paris_today

LISTS = "Listes du jour"
FOLLOW_UP = "Suivi"


# --- lists for the day ---------------------------------------------------------------------

class StaffListsView(BaseView):
    """Roster, bus list and on-site list, each with a filter form, a print view and a CSV file."""

    route_base = "/listes"
    default_view = "roster"

    # -- selection --
    def _selection(self) -> dict:
        return {
            "establishment_id": int_arg("establishment_id"),
            "period_id": int_arg("period_id"),
            "week_id": int_arg("week_id"),
            "circuit_id": int_arg("circuit_id"),
            "jour": date_arg("jour"),
            "par_arret": request.args.get("par_arret") == "1",
        }

    def _week_ids(self, sel: dict) -> list[int]:
        period_id = sel["period_id"]
        if sel["circuit_id"] and not sel["week_id"] and not period_id:
            circuit = db.session.get(Circuit, sel["circuit_id"])
            period_id = circuit.period_id if circuit else None
        return reports.resolve_weeks(week_id=sel["week_id"], period_id=period_id,
                                     establishment_id=sel["establishment_id"],
                                     on=sel["jour"] or paris_today())

    def _rosters(self, sel: dict, onsite: bool):
        try:
            return reports.rosters(self._week_ids(sel), onsite_only=onsite), None
        except ServiceError as error:
            return [], error.message

    def _bus_lists(self, sel: dict):
        try:
            return reports.bus_lists(self._week_ids(sel), circuit_id=sel["circuit_id"]), None
        except ServiceError as error:
            return [], error.message

    def _query(self, sel: dict) -> dict:
        """The selection as URL arguments, for the print and CSV links."""
        args = {k: v for k, v in sel.items() if k in ("establishment_id", "period_id", "week_id", "circuit_id") and v}
        if sel["jour"]:
            args["jour"] = sel["jour"].isoformat()
        return args

    def _page(self, kind: str, template: str, **data):
        sel = self._selection()
        choices = filter_choices(sel["establishment_id"], sel["period_id"], with_circuits=(kind == "bus"))
        return self.render_template(template, kind=kind, sel=sel, query=self._query(sel), choices=choices,
                                    today=paris_today(), **data)

    # -- roster --
    @expose("/appel")
    @has_access
    def roster(self):
        sel = self._selection()
        groups, error = self._rosters(sel, onsite=False)
        return self._page("appel", "staff/operations/roster.html", groups=groups, error=error,
                          title=_("Feuille de présence"))

    @expose("/appel/imprimer")
    @has_access
    def roster_print(self):
        groups, error = self._rosters(self._selection(), onsite=False)
        return self.render_template("staff/operations/print_roster.html", groups=groups, error=error,
                                    title=_("Feuille de présence"), printed_at=datetime.now(PARIS))

    @expose("/appel/csv")
    @has_access
    def roster_csv(self):
        groups, error = self._rosters(self._selection(), onsite=False)
        if error:
            flash(error, "warning")
            return redirect(url_for(".roster", **self._query(self._selection())))
        return csv_response(csv_export.roster_csv(groups), _filename("appel", groups))

    # -- on site --
    @expose("/sur-place")
    @has_access
    def onsite(self):
        sel = self._selection()
        groups, error = self._rosters(sel, onsite=True)
        return self._page("sur-place", "staff/operations/roster.html", groups=groups, error=error,
                          title=_("Accueil sur site"))

    @expose("/sur-place/imprimer")
    @has_access
    def onsite_print(self):
        groups, error = self._rosters(self._selection(), onsite=True)
        return self.render_template("staff/operations/print_roster.html", groups=groups, error=error,
                                    title=_("Accueil sur site"), printed_at=datetime.now(PARIS))

    @expose("/sur-place/csv")
    @has_access
    def onsite_csv(self):
        groups, error = self._rosters(self._selection(), onsite=True)
        if error:
            flash(error, "warning")
            return redirect(url_for(".onsite", **self._query(self._selection())))
        return csv_response(csv_export.onsite_csv(groups), _filename("sur-place", groups))

    # -- bus --
    @expose("/bus")
    @has_access
    def bus(self):
        sel = self._selection()
        groups, error = self._bus_lists(sel)
        return self._page("bus", "staff/operations/bus.html", groups=groups, error=error, title=_("Listes de bus"))

    @expose("/bus/imprimer")
    @has_access
    def bus_print(self):
        sel = self._selection()
        groups, error = self._bus_lists(sel)
        return self.render_template("staff/operations/print_bus.html", groups=groups, error=error,
                                    title=_("Liste de bus"), per_stop=sel["par_arret"], printed_at=datetime.now(PARIS))

    @expose("/bus/csv")
    @has_access
    def bus_csv(self):
        groups, error = self._bus_lists(self._selection())
        if error:
            flash(error, "warning")
            return redirect(url_for(".bus", **self._query(self._selection())))
        return csv_response(csv_export.bus_list_csv(groups), _filename("bus", groups))


def _filename(kind: str, groups) -> str:
    if not groups:
        return f"{kind}.csv"
    first = groups[0].week_starts_on
    return f"{kind}-{first:%Y-%m-%d}.csv"


# --- dashboard -----------------------------------------------------------------------------

class StaffDashboardView(BaseView):
    """Occupancy of a period (weeks and bus seats) and takings per period, drawn on the server."""

    route_base = "/tableau-de-bord"
    default_view = "index"

    def _period_id(self, periods) -> int | None:
        wanted = int_arg("period_id")
        if wanted:
            return wanted
        today = paris_today()
        current = [p for p in periods if p.ends_on >= today]
        if current:
            return min(current, key=lambda p: (p.starts_on, p.id)).id
        return periods[0].id if periods else None

    @expose("/")
    @has_access
    def index(self):
        establishment_id = int_arg("establishment_id")
        choices = filter_choices(establishment_id, None)
        period_id = self._period_id(choices["periods"])
        occupancy, error = None, None
        if period_id:
            try:
                occupancy = reports.occupancy(period_id)
            except ServiceError as exc:
                error = exc.message
        takings = reports.takings(establishment_id=establishment_id)
        totals = {
            "paid": sum(t.paid_cents for t in takings),
            "refunded": sum(t.refunded_cents for t in takings),
            "net": sum(t.net_cents for t in takings),
        }
        return self.render_template("staff/operations/dashboard.html", choices=choices, period_id=period_id,
                                    establishment_id=establishment_id, occupancy=occupancy, error=error,
                                    takings=takings, totals=totals, methods=PAYMENT_METHOD_LABELS,
                                    title=_("Tableau de bord"))

    @expose("/occupation/csv")
    @has_access
    def occupancy_csv(self):
        period_id = int_arg("period_id")
        try:
            occupancy = reports.occupancy(period_id or 0)
        except ServiceError as exc:
            flash(exc.message, "warning")
            return redirect(url_for(".index"))
        return csv_response(csv_export.occupancy_csv(occupancy), f"occupation-periode-{occupancy.period_id}.csv")

    @expose("/recettes/csv")
    @has_access
    def takings_csv(self):
        takings = reports.takings(establishment_id=int_arg("establishment_id"))
        return csv_response(csv_export.takings_csv(takings), "recettes.csv")


# --- audit journal -------------------------------------------------------------------------

PAGE_SIZES = (20, 50, 100, 200)


class StaffAuditView(BaseView):
    """Who changed what: filter by household (number or name), entity, author, action and dates."""

    route_base = "/journal"
    default_view = "index"

    def _filters(self) -> dict:
        args = request.args
        size = int_arg("par_page") or 50
        return {
            "foyer": (args.get("foyer") or "").strip()[:100],
            "entite": (args.get("entite") or "").strip()[:50],
            "entite_id": int_arg("entite_id"),
            "auteur": (args.get("auteur") or "").strip()[:100],
            "action": (args.get("action") or "").strip()[:100],
            "du": date_arg("du"),
            "au": date_arg("au"),
            "page": int_arg("page") or 1,
            "par_page": size if size in PAGE_SIZES else 50,
        }

    @staticmethod
    def _conditions(f: dict) -> list:
        conditions = []
        if f["foyer"]:
            household_id = parse_id(f["foyer"])
            if household_id is not None:
                conditions.append(AuditLog.household_id == household_id)
            else:
                conditions.append(AuditLog.household_id.in_(
                    select(Household.id).where(Household.name.ilike(f"%{_like(f['foyer'])}%", escape="\\"))))
        if f["entite"]:
            conditions.append(AuditLog.entity == f["entite"])
        if f["entite_id"]:
            conditions.append(AuditLog.entity_id == f["entite_id"])
        if f["auteur"]:
            conditions.append(AuditLog.actor_label.ilike(f"%{_like(f['auteur'])}%", escape="\\"))
        if f["action"]:
            conditions.append(AuditLog.action.ilike(f"%{_like(f['action'])}%", escape="\\"))
        if f["du"]:
            conditions.append(AuditLog.at >= datetime.combine(f["du"], time(0), PARIS))
        if f["au"]:
            conditions.append(AuditLog.at < datetime.combine(f["au"] + timedelta(days=1), time(0), PARIS))
        return conditions

    @expose("/")
    @has_access
    def index(self):
        f = self._filters()
        conditions = self._conditions(f)
        total = db.session.execute(select(func.count()).select_from(AuditLog).where(*conditions)).scalar_one()
        pages = max((total + f["par_page"] - 1) // f["par_page"], 1)
        page = min(f["page"], pages)
        rows = db.session.execute(
            select(AuditLog, Household.name)
            .outerjoin(Household, Household.id == AuditLog.household_id)
            .where(*conditions).order_by(AuditLog.at.desc(), AuditLog.id.desc())
            .offset((page - 1) * f["par_page"]).limit(f["par_page"])
        ).all()
        entities = db.session.execute(select(AuditLog.entity).distinct().order_by(AuditLog.entity)).scalars().all()
        entries = [{"row": row, "household_name": name, "before": _pretty(row.before), "after": _pretty(row.after)}
                   for row, name in rows]
        args = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in f.items()
                if v and k not in ("page",)}
        return self.render_template("staff/operations/audit.html", f=f, entries=entries, total=total, page=page,
                                    pages=pages, entities=entities, args=args, page_sizes=PAGE_SIZES,
                                    title=_("Journal des modifications"))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _pretty(value: str | None) -> str:
    if not value:
        return ""
    try:
        return json.dumps(json.loads(value), ensure_ascii=False, indent=1, sort_keys=True)
    except ValueError:
        return value


# --- mail log ------------------------------------------------------------------------------

def _household_link(household_id):
    if not household_id:
        return ""
    return Markup('<a href="{0}">Foyer n° {1}</a>').format(url_for("HouseholdView.show", pk=household_id),
                                                          household_id)


def _pre(text):
    return Markup('<pre class="mail-body">{}</pre>').format(text or "")


def _html_preview(html):
    if not html:
        return ""
    # A sandboxed frame without scripts: the mail is shown as the family saw it, safely.
    return Markup('<iframe class="mail-html" sandbox="" title="Version HTML du message" srcdoc="{}"></iframe>'
                  ).format(html)


class StaffMailLogView(ModelView):
    """Every mail the portal sent or tried to send, with its body."""

    datamodel = SQLAInterface(MailLog)
    base_permissions = ["can_list", "can_show"]
    list_title = "Messages envoyés"
    show_title = "Message"
    label_columns = {"created_at": "Créé le", "kind": "Type", "to_address": "Destinataire", "subject": "Objet",
                     "status": "État", "attempts": "Tentatives", "sent_at": "Envoyé le", "error": "Erreur",
                     "household_id": "Foyer", "body_text": "Texte du message", "body_html": "Version HTML",
                     "dedupe_key": "Clé d'unicité"}
    list_columns = ["created_at", "kind", "to_address", "subject", "status", "attempts", "household_id"]
    show_columns = ["created_at", "sent_at", "status", "attempts", "error", "kind", "to_address", "subject",
                    "household_id", "body_text", "body_html"]
    # Dates are not offered as search fields: FAB would compare them as naive values.
    search_columns = ["kind", "to_address", "subject", "status", "household_id"]
    base_order = ("created_at", "desc")
    page_size = 50
    formatters_columns = {"created_at": datetime_fr, "sent_at": datetime_fr,
                          "status": lambda s: MAIL_STATUS_LABELS.get(s, s), "household_id": _household_link,
                          "kind": lambda kind: label(MAIL_KIND_LABELS, kind),
                          "body_text": _pre, "body_html": _html_preview}


def register(appbuilder) -> None:
    appbuilder.add_view(StaffListsView, "Feuille de présence", href="/listes/appel", icon="fa-list",
                        category=LISTS, category_icon="fa-clipboard")
    appbuilder.add_link("Listes de bus", href="/listes/bus", icon="fa-bus", category=LISTS)
    appbuilder.add_link("Accueil sur site", href="/listes/sur-place", icon="fa-home", category=LISTS)
    appbuilder.add_view(StaffDashboardView, "Tableau de bord", href="/tableau-de-bord/", icon="fa-bar-chart",
                        category=FOLLOW_UP, category_icon="fa-line-chart")
    appbuilder.add_view(StaffAuditView, "Journal des modifications", href="/journal/", icon="fa-history",
                        category=FOLLOW_UP)
    appbuilder.add_view(StaffMailLogView, "Messages envoyés", icon="fa-envelope", category=FOLLOW_UP)

    from . import desk

    desk.register(appbuilder)
