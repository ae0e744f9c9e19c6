"""« Déclaration d'accessibilité » (RGAA): the statement a French public service must publish, with
the result measured by the automated check of the browser journeys (axe-core) once it runs.

Public (no permission declared: app.security classifies it PUBLIC): the statement is read before
logging in too, and its link sits in the parent footer.
"""
from __future__ import annotations

from flask_appbuilder import BaseView, expose

# What the automated check measured, shown as is on the statement. The axe-core check of the browser
# journeys is not in place yet (issue 20): until it measures, the statement says so rather than
# publishing a number nobody measured.
AUDIT: dict = {
    "date": None,
    "tool": "axe-core (règles WCAG 2.1 A et AA), Chromium, à 375 px et à 1280 px",
    "serious_or_critical": None,
}


class AccessibilityView(BaseView):
    route_base = "/accessibilite"
    default_view = "statement"

    @expose("/")
    def statement(self):
        return self.render_template("public/accessibility.html", audit=AUDIT)


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(AccessibilityView())
