"""The wish-campaign fields of the staff period screen (issue 15): opening mode, wish window, results
date, the hours families have to pay a given week, the maximum of weeks given per child."""
from __future__ import annotations

from wtforms import IntegerField, SelectField
from wtforms.validators import NumberRange, Optional

from app.models import OpeningMode
from app.views.filters import datetime_fr

from .fields import paris_datetime_fields

OPENING_MODE_LABELS = {OpeningMode.FIRST_COME: "Premier arrivé, premier servi",
                       OpeningMode.WISHES: "Sur vœux, puis attribution par règles publiées et tirage"}
WISHES_COLUMNS = ["opening_mode", "wishes_open_at", "wishes_close_at", "results_at", "offer_hours",
                  "max_weeks_per_child"]
WISHES_LABELS = {"opening_mode": "Ouverture des places", "wishes_open_at": "Ouverture des vœux",
                 "wishes_close_at": "Clôture des vœux", "results_at": "Résultats annoncés le",
                 "offer_hours": "Délai pour payer une semaine attribuée (heures)",
                 "max_weeks_per_child": "Semaines attribuées au plus par enfant"}
WISHES_DESCRIPTIONS = {
    "opening_mode": "Sur vœux : pas d'inscription ordinaire avant la publication de l'attribution.",
    "wishes_open_at": "Sur vœux seulement. Les règles d'attribution sont figées à cette heure.",
    "wishes_close_at": "Sur vœux seulement. Les familles peuvent modifier leurs vœux jusqu'à cette heure.",
    "results_at": "Date annoncée aux familles (la publication reste faite par le Pôle Jeunesse).",
    "offer_hours": "72 heures par défaut.",
    "max_weeks_per_child": "Laisser vide : sans limite.",
}
WISHES_FORMATTERS = {"opening_mode": lambda mode: OPENING_MODE_LABELS.get(mode, mode),
                     "wishes_open_at": datetime_fr, "wishes_close_at": datetime_fr, "results_at": datetime_fr}


def wishes_fields(labels: dict[str, str], descriptions: dict[str, str]) -> dict:
    fields = paris_datetime_fields(labels, "wishes_open_at", "wishes_close_at", "results_at", required=False)
    for name, field in fields.items():
        field.kwargs["description"] = descriptions[name] + " Heure de Paris."
    return {
        "opening_mode": SelectField(labels["opening_mode"], choices=list(OPENING_MODE_LABELS.items()),
                                    default=OpeningMode.FIRST_COME, description=descriptions["opening_mode"]),
        **fields,
        "offer_hours": IntegerField(labels["offer_hours"], default=72, validators=[NumberRange(min=1, max=720)],
                                    description=descriptions["offer_hours"]),
        "max_weeks_per_child": IntegerField(labels["max_weeks_per_child"],
                                            validators=[Optional(), NumberRange(min=1, max=52)],
                                            description=descriptions["max_weeks_per_child"]),
    }
