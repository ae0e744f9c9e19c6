"""Form fields and formatters shared by staff screens.

Flask-AppBuilder's date pickers reformat typed datetimes to dates and drop them; native HTML5
inputs are simpler, keyboard-friendly and localised by the browser.
"""
from __future__ import annotations

from datetime import datetime

from wtforms.fields import DateField, DateTimeLocalField
from wtforms.validators import DataRequired, Optional

from app.views.filters import PARIS, datetime_fr, euros


class ParisDateTimeField(DateTimeLocalField):
    """Staff read and type Paris time; the database keeps UTC."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
                         **kwargs)

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        if isinstance(self.data, datetime):
            return self.data.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")
        return ""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if isinstance(self.data, datetime) and self.data.tzinfo is None:
            self.data = self.data.replace(tzinfo=PARIS)


def _validators(required: bool):
    return [DataRequired(message="Ce champ est requis.") if required else Optional()]


def paris_datetime_fields(labels: dict[str, str], *names: str, required: bool = True) -> dict:
    """Fields for UTC columns that staff edit in Paris time; `labels` are the view's label_columns."""
    return {name: ParisDateTimeField(labels.get(name), _validators(required), description="Heure de Paris.")
            for name in names}


def date_fields(labels: dict[str, str], *names: str, required: bool = True) -> dict:
    return {name: DateField(labels.get(name), _validators(required)) for name in names}


FORMAT_DATETIME = datetime_fr
FORMAT_EUROS = euros
