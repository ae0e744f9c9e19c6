"""The site root sends each person where they work: parents to their area, staff to the back office."""
from __future__ import annotations

from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose

from app.roles import ANIMATOR, PARENT


class PortalIndexView(IndexView):
    index_template = "staff/index.html"

    @expose("/")
    def index(self):
        user = g.user
        if user is None or not user.is_authenticated:
            return redirect(url_for(self.appbuilder.sm.auth_view.__class__.__name__ + ".login"))
        if any(role.name == PARENT for role in user.roles):
            return redirect(url_for("ParentHomeView.index"))
        if all(role.name == ANIMATOR for role in user.roles):  # on the ground: their week's lists
            return redirect(url_for("AnimatorPagesView.home"))
        return self.render_template(self.index_template, appbuilder=self.appbuilder)
