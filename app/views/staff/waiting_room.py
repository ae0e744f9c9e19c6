"""Staff's live view of the opening's waiting room (issue 21): whether it is in force, how many
parents wait, how many were let in over the last minute, and since when the head of the queue
has been waiting. The page refreshes itself every few seconds (app/static/waiting-room.js).

/salle-attente/     the queue as it stands (reading it also lets in whoever's turn has come)
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.services.booking import waiting_room

REFRESH_SECONDS = 5
MODE_LABELS = {waiting_room.OFF: "désactivée", waiting_room.ON: "activée",
               waiting_room.AUTO: "automatique (autour de l'ouverture des inscriptions d'une période)"}


class StaffWaitingRoomView(BaseView):
    route_base = "/salle-attente"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        status = waiting_room.status()
        head_wait = None
        if status.head_arrived_at is not None:
            head_wait = waiting_room.wait_text(
                int((datetime.fromtimestamp(waiting_room.clock(), timezone.utc) - status.head_arrived_at)
                    .total_seconds())).removeprefix("environ ")
        return self.render_template("staff/waiting_room.html", status=status, mode_label=MODE_LABELS[status.mode],
                                    head_wait=head_wait, refresh_seconds=REFRESH_SECONDS,
                                    title=_("Salle d'attente des inscriptions"))


def register(appbuilder) -> None:
    appbuilder.add_view(StaffWaitingRoomView, "Salle d'attente", href="/salle-attente/", icon="fa-users",
                        category="Suivi")
