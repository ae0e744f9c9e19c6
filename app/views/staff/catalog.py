"""Catalogue CRUD for staff: establishments, periods, weeks, tariffs, circuits, stops.

Generated Flask-AppBuilder screens, with every write routed through the catalogue service
(app.services.catalog.writes): its rules refuse what would break a booking, and every accepted
write is audited in the same commit.
"""
from __future__ import annotations

from flask import g
from flask_appbuilder import ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.urltools import get_order_args, get_page_args, get_page_size_args
from wtforms import IntegerField, TimeField
from wtforms.validators import DataRequired, NumberRange, Optional

from app.models import Circuit, Establishment, Period, Stop, TariffBracket, Week, db
from app.services.catalog import writes
from app.services.errors import ServiceError
from app.views.filters import date_fr

from .fields import FORMAT_DATETIME, FORMAT_EUROS, date_fields, paris_datetime_fields
from .wishes_fields import WISHES_COLUMNS, WISHES_DESCRIPTIONS, WISHES_FORMATTERS, WISHES_LABELS, wishes_fields

CATEGORY = "Catalogue"


class CatalogModelView(ModelView):
    """FAB's hooks call the catalogue service. FAB flashes a hook's exception (our French message)
    but then redirects away from the form, losing what staff typed: on a refusal we render the
    submitted form again instead. Views are shared between requests, so the form waits in `g`."""

    def process_form(self, form, is_created):
        super().process_form(form, is_created)
        g.catalog_form = form

    def pre_add(self, item):
        self._write(writes.audited_add, item)

    def pre_update(self, item):
        self._write(writes.audited_update, item)

    def pre_delete(self, item):
        self._write(writes.audited_delete, item)

    def _write(self, write, item) -> None:
        try:
            write(item, g.user)
        except ServiceError:
            db.session.rollback()  # nothing half-done stays in the session (nor any lock taken)
            g.catalog_refused = True
            raise

    def _refused_form(self):
        if g.pop("catalog_refused", False):
            return g.pop("catalog_form", None)
        return None

    def _add(self):
        widgets = super()._add()
        form = self._refused_form() if widgets is None else None
        if form is not None:
            return self._get_add_widget(form=form, exclude_cols=self._filters.get_relation_cols())
        return widgets

    def _edit(self, pk):
        widgets = super()._edit(pk)
        form = self._refused_form() if widgets is None else None
        if form is None:
            return widgets
        item = self.datamodel.get(pk, self._base_filters)
        widgets = self._get_edit_widget(form=form, exclude_cols=self._filters.get_relation_cols())
        return self._get_related_views_widgets(item, filters={}, orders=get_order_args(), pages=get_page_args(),
                                               page_sizes=get_page_size_args(), widgets=widgets)


class WeekView(CatalogModelView):
    datamodel = SQLAInterface(Week)
    list_title = show_title = "Semaines"
    add_title, edit_title = "Ajouter une semaine", "Modifier la semaine"
    label_columns = {"period": "Période", "label": "Libellé", "starts_on": "Début", "ends_on": "Fin",
                     "capacity": "Places"}
    list_columns = ["period", "label", "starts_on", "ends_on", "capacity"]
    add_columns = edit_columns = ["period", "label", "starts_on", "ends_on", "capacity"]
    add_form_extra_fields = edit_form_extra_fields = date_fields(label_columns, "starts_on", "ends_on")
    search_columns = ["period", "label", "starts_on"]
    order_columns = ["label", "starts_on", "capacity"]
    base_order = ("starts_on", "asc")
    formatters_columns = {"starts_on": date_fr, "ends_on": date_fr}


class TariffBracketView(CatalogModelView):
    datamodel = SQLAInterface(TariffBracket)
    list_title = show_title = "Tarifs"
    add_title, edit_title = "Ajouter une tranche de tarif", "Modifier la tranche"
    label_columns = {"period": "Période", "label": "Tranche", "qf_min": "QF minimum (€)",
                     "qf_max": "QF maximum (€)", "price_cents": "Prix de la semaine (centimes)",
                     "meal_share_cents": "Dont repas (centimes)"}
    description_columns = {"qf_max": "Laisser vide pour la tranche la plus haute.",
                           "price_cents": "En centimes d'euro : 4550 pour 45,50 €.",
                           "meal_share_cents": "Part des repas comprise dans le prix, en centimes : elle est exclue "
                                               "de l'attestation de frais de garde (0 si les repas ne sont pas "
                                               "facturés)."}
    list_columns = ["period", "label", "qf_min", "qf_max", "price_cents", "meal_share_cents"]
    add_columns = edit_columns = ["period", "label", "qf_min", "qf_max", "price_cents", "meal_share_cents"]
    add_form_extra_fields = edit_form_extra_fields = {
        "meal_share_cents": IntegerField("Dont repas (centimes)", default=0,
                                         validators=[Optional(), NumberRange(min=0, max=10_000_00)],
                                         description=description_columns["meal_share_cents"]),
    }
    search_columns = ["period", "label"]
    formatters_columns = {"price_cents": FORMAT_EUROS, "meal_share_cents": FORMAT_EUROS}
    base_order = ("qf_min", "asc")


class StopView(CatalogModelView):
    datamodel = SQLAInterface(Stop)
    list_title = show_title = "Arrêts de bus"
    add_title, edit_title = "Ajouter un arrêt", "Modifier l'arrêt"
    label_columns = {"circuit": "Circuit", "name": "Arrêt", "position": "Ordre de passage",
                     "pickup_time": "Heure de montée (matin)", "dropoff_time": "Heure de descente (soir)"}
    list_columns = ["circuit", "position", "name", "pickup_time", "dropoff_time"]
    add_columns = edit_columns = ["circuit", "position", "name", "pickup_time", "dropoff_time"]
    search_columns = ["circuit", "name"]
    base_order = ("position", "asc")
    add_form_extra_fields = edit_form_extra_fields = {
        "pickup_time": TimeField("Heure de montée (matin)", validators=[DataRequired()]),
        "dropoff_time": TimeField("Heure de descente (soir)", validators=[DataRequired()]),
    }
    formatters_columns = {"pickup_time": lambda t: f"{t:%H:%M}", "dropoff_time": lambda t: f"{t:%H:%M}"}


class CircuitView(CatalogModelView):
    datamodel = SQLAInterface(Circuit)
    list_title = show_title = "Circuits de bus"
    add_title, edit_title = "Ajouter un circuit", "Modifier le circuit"
    label_columns = {"period": "Période", "name": "Circuit", "seats": "Places assises par semaine",
                     "stops": "Arrêts"}
    list_columns = ["name", "period", "seats"]
    add_columns = edit_columns = ["period", "name", "seats"]
    show_columns = ["name", "period", "seats", "stops"]
    search_columns = ["name", "period"]
    related_views = [StopView]


class PeriodView(CatalogModelView):
    datamodel = SQLAInterface(Period)
    list_title = show_title = "Périodes"
    add_title, edit_title = "Ajouter une période", "Modifier la période"
    label_columns = {"establishment": "Établissement", "name": "Période", "starts_on": "Premier jour",
                     "ends_on": "Dernier jour", "opens_at": "Ouverture des inscriptions",
                     "closes_at": "Clôture des inscriptions",
                     "stop_change_deadline": "Changement d'arrêt possible jusqu'au",
                     "bus_price_cents": "Prix du bus par semaine (centimes)", "weeks": "Semaines",
                     "tariffs": "Tarifs", "circuits": "Circuits", **WISHES_LABELS}
    description_columns = {
        "stop_change_deadline": "Après cette date, seul le Pôle Jeunesse peut changer un arrêt.",
        "bus_price_cents": "0 si le bus est gratuit.",
        **WISHES_DESCRIPTIONS,
    }
    list_columns = ["name", "establishment", "starts_on", "ends_on", "opens_at", "closes_at", "opening_mode"]
    add_columns = edit_columns = ["establishment", "name", "starts_on", "ends_on", "opens_at", "closes_at",
                                  "stop_change_deadline", "bus_price_cents", *WISHES_COLUMNS]
    show_columns = add_columns
    add_form_extra_fields = edit_form_extra_fields = {
        **paris_datetime_fields(label_columns, "opens_at", "closes_at"),
        **paris_datetime_fields(label_columns, "stop_change_deadline", required=False),
        **date_fields(label_columns, "starts_on", "ends_on"),
        **wishes_fields(label_columns, WISHES_DESCRIPTIONS),
    }
    search_columns = ["name", "establishment", "starts_on"]
    base_order = ("starts_on", "desc")
    formatters_columns = {"starts_on": date_fr, "ends_on": date_fr, "opens_at": FORMAT_DATETIME,
                          "closes_at": FORMAT_DATETIME, "stop_change_deadline": FORMAT_DATETIME,
                          "bus_price_cents": FORMAT_EUROS, **WISHES_FORMATTERS}
    related_views = [WeekView, TariffBracketView, CircuitView]


class EstablishmentView(CatalogModelView):
    datamodel = SQLAInterface(Establishment)
    list_title = show_title = "Établissements"
    add_title, edit_title = "Ajouter un établissement", "Modifier l'établissement"
    label_columns = {"name": "Nom", "kind": "Type", "commune": "Commune", "address": "Adresse",
                     "age_min": "Âge minimum", "age_max": "Âge maximum", "description": "Description",
                     "active": "Actif", "periods": "Périodes"}
    description_columns = {"age_min": "En années révolues au premier jour de la période (inclus).",
                           "age_max": "En années révolues au premier jour de la période (inclus).",
                           "kind": "alsh (accueil de loisirs) ou sejour"}
    list_columns = ["name", "kind", "commune", "age_min", "age_max", "active"]
    add_columns = edit_columns = ["name", "kind", "commune", "address", "age_min", "age_max", "description",
                                  "active"]
    search_columns = ["name", "commune", "kind", "active"]
    formatters_columns = {"kind": lambda k: {"alsh": "Accueil de loisirs", "sejour": "Séjour"}.get(k, k)}
    related_views = [PeriodView]


def register(appbuilder) -> None:
    appbuilder.add_view(EstablishmentView, "Établissements", icon="fa-building", category=CATEGORY,
                        category_icon="fa-th-list")
    appbuilder.add_view(PeriodView, "Périodes", icon="fa-calendar", category=CATEGORY)
    appbuilder.add_view(WeekView, "Semaines", icon="fa-calendar-o", category=CATEGORY)
    appbuilder.add_view(TariffBracketView, "Tarifs", icon="fa-eur", category=CATEGORY)
    appbuilder.add_view(CircuitView, "Circuits de bus", icon="fa-bus", category=CATEGORY)
    appbuilder.add_view(StopView, "Arrêts", icon="fa-map-marker", category=CATEGORY)
