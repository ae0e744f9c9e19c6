"""« Déclaration d'accessibilité » (RGAA): the statement a French public service must publish, with
the result measured by the automated check of the browser journeys (axe-core, tests/e2e/test_axe.py).

Public (no permission declared: app.security classifies it PUBLIC): the statement is read before
logging in too, and its link sits in the parent footer.
"""
from __future__ import annotations

from flask_appbuilder import BaseView, expose

# What the automated check measured (tests/e2e/test_axe.py), shown as is on the statement. Update
# both together: the test asserts the statement says what it measures.
AUDIT = {
    "date": "2026",
    "tool": "axe-core 4.11 (règles WCAG 2.1 A et AA), Chromium, à 375 px et à 1280 px",
    "serious_or_critical": 0,
}


class AccessibilityView(BaseView):
    route_base = "/accessibilite"
    default_view = "statement"

    @expose("/")
    def statement(self):
        return self.render_template("public/accessibility.html", audit=AUDIT)


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(AccessibilityView())
