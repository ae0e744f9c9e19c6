"""Form fields and formatters shared by staff screens."""
from __future__ import annotations

from datetime import datetime

from flask_appbuilder.fieldwidgets import DateTimePickerWidget
from wtforms import DateTimeField

from app.views.filters import PARIS, datetime_fr, euros


class ParisDateTimeField(DateTimeField):
    """Staff read and type Paris time; the database keeps UTC."""

    widget = DateTimePickerWidget()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format="%Y-%m-%d %H:%M:%S", **kwargs)

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        if isinstance(self.data, datetime):
            return self.data.astimezone(PARIS).strftime(self.format[0])
        return ""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if isinstance(self.data, datetime) and self.data.tzinfo is None:
            self.data = self.data.replace(tzinfo=PARIS)


def paris_datetime_fields(*names: str, required: bool = True) -> dict:
    from wtforms.validators import DataRequired, Optional

    return {
        name: ParisDateTimeField(validators=[DataRequired() if required else Optional()])
        for name in names
    }


FORMAT_DATETIME = datetime_fr
FORMAT_EUROS = euros
