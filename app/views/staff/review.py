"""Staff review of household files: the queue (oldest first, time waited in working hours), the review
page (all data, documents inline, the same checklist the parent sees), validate / mark incomplete /
bulk validate, shared-child links, health-sheet changes. Thin over app.services.household.dossier."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from app.models import AuditLog, Household, db
from app.services import audit_text
from app.services.errors import NotFound, ServiceError
from app.services.household import checklist, documents, dossier
from app.services.localize import AUDIT_ACTION_LABELS, DOCUMENT_STATUS_LABELS
from app.views.helpers import parse_id, service_errors

CATEGORY = "Familles"


def _not_found_page(exc: ServiceError):
    """The review area's 404: the service's reason and a way back to the queue."""
    appbuilder = current_app.appbuilder
    return render_template("staff/review/not_found.html", message=exc.message, appbuilder=appbuilder,
                           base_template=appbuilder.base_template), 404


def _back_to_links(**_url_values) -> str:
    return _safe_back(request.form.get("next"))


def _audit_changes(before: str | None, after: str | None, entity: str | None = None):
    """The history's before/after in French; a document's kind and an incompleteness reason by their
    labels (tables of the household domain)."""
    values = {"kind": documents.KIND_LABELS} if entity == "document" else {
        "reasons": {code: text for code, (text, _kind) in dossier.INCOMPLETE_REASONS.items()}}
    return audit_text.changes(before, after, entity, values)


class DossierReviewView(BaseView):
    route_base = "/revue-dossiers"
    default_view = "queue"

    def _page(self, template: str, status: int = 200, **context):
        return self.render_template(f"staff/review/{template}", **context), status

    def _not_found(self, message: str | None = None):
        return self._page("not_found.html", 404, message=message or _("Introuvable."))

    @expose("/")
    @has_access
    def queue(self):
        entries = dossier.review_queue()
        return self._page("queue.html", entries=entries, threshold=dossier.DIGEST_THRESHOLD_HOURS,
                          shared_count=len(dossier.pending_shared_links()))

    @expose("/dossier/<int:household_id>")
    @has_access
    def review(self, household_id):
        household = db.session.get(Household, household_id)
        if household is None:
            return self._not_found(_("Dossier introuvable."))
        return self._review_page(household)

    def _review_page(self, household, status=200, errors=None, values=None):
        items = checklist.evaluate(household)
        history = db.session.execute(
            select(AuditLog).where(AuditLog.household_id == household.id).order_by(AuditLog.at.desc()).limit(30)
        ).scalars().all()
        waited = None
        if household.status == "submitted" and household.submitted_at:
            from app.models import utcnow

            waited = dossier.working_hours_between(household.submitted_at, utcnow())
        return self._page(
            "review.html", status, household=household, items=items, missing=[i for i in items if not i.done],
            reasons=dossier.INCOMPLETE_REASONS, previous_reasons=dossier.incomplete_reasons(household),
            status_label=dossier.status_label(household), link_labels=dossier.LINK_LABELS,
            kind_labels=documents.KIND_LABELS, history=history, errors=errors or {}, values=values or {},
            health_changed=dossier.health_changed_since_validation(household), waited=waited,
            threshold=dossier.DIGEST_THRESHOLD_HOURS, action_labels=AUDIT_ACTION_LABELS,
            document_status=DOCUMENT_STATUS_LABELS, audit_changes=_audit_changes)

    @expose("/dossier/<int:household_id>/valider", methods=["POST"])
    @has_access
    def validate(self, household_id):
        try:
            household = dossier.validate(household_id, g.user, request.form.get("quotient"))
        except NotFound as exc:
            return self._not_found(exc.message)
        except ServiceError as exc:
            household = db.session.get(Household, household_id)
            flash(exc.message, "danger")
            return self._review_page(household, 400 if exc.http_status == 400 else exc.http_status,
                                     errors=exc.details.get("errors") or {}, values=request.form.to_dict())
        flash(_("Dossier « %(name)s » validé. La famille est prévenue par e-mail.", name=household.name), "success")
        return redirect(url_for(".queue"))

    @expose("/dossier/<int:household_id>/incomplet", methods=["POST"])
    @has_access
    def incomplete(self, household_id):
        try:
            household = dossier.mark_incomplete(household_id, g.user, request.form.getlist("reasons"),
                                                request.form.get("note"))
        except NotFound as exc:
            return self._not_found(exc.message)
        except ServiceError as exc:
            household = db.session.get(Household, household_id)
            flash(exc.message, "danger")
            return self._review_page(household, exc.http_status, errors=exc.details.get("errors") or {},
                                     values={"reasons": request.form.getlist("reasons"),
                                             "note": request.form.get("note") or ""})
        flash(_("Dossier « %(name)s » marqué incomplet. La famille est prévenue par e-mail.", name=household.name),
              "success")
        return redirect(url_for(".queue"))

    @expose("/valider-lot", methods=["POST"])
    @has_access
    def bulk_validate(self):
        ids = [household_id for household_id in map(parse_id, request.form.getlist("ids")) if household_id]
        if not ids:
            flash(_("Cochez au moins un dossier."), "warning")
            return redirect(url_for(".queue"))
        result = dossier.bulk_validate(ids, g.user)
        if result.validated:
            flash(ngettext("%(num)d dossier validé avec le QF déclaré.", "%(num)d dossiers validés avec le QF déclaré.",
                           len(result.validated)), "success")
        for household_id, reason in result.skipped:
            household = db.session.get(Household, household_id)
            name = household.name if household else f"#{household_id}"
            flash(_("Non validé : %(name)s — %(reason)s", name=name, reason=reason), "warning")
        return redirect(url_for(".queue"))

    @expose("/document/<int:document_id>")
    @has_access
    @service_errors(not_found=_not_found_page)
    def document(self, document_id):
        document = documents.any_document(document_id)
        stored = documents.stored_file(document)
        response = send_file(stored.path, mimetype=stored.content_type,
                             as_attachment=request.args.get("telecharger") == "1",
                             download_name=stored.download_name, max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @expose("/rattachements")
    @has_access
    def shared_links(self):
        return self._page("shared_links.html", links=dossier.pending_shared_links(),
                          document_status=DOCUMENT_STATUS_LABELS)

    @expose("/rattachement/<int:link_id>/confirmer", methods=["POST"])
    @has_access
    @service_errors(_back_to_links, not_found=_not_found_page)
    def confirm_link(self, link_id):
        link = dossier.confirm_shared_link(link_id, g.user)
        flash(_("Rattachement de %(child)s au foyer « %(name)s » confirmé.", child=link.child.full_name,
                name=link.household.name), "success")
        return redirect(_back_to_links())

    @expose("/rattachement/<int:link_id>/refuser", methods=["POST"])
    @has_access
    @service_errors(_back_to_links, not_found=_not_found_page)
    def refuse_link(self, link_id):
        link = dossier.refuse_shared_link(link_id, g.user, request.form.get("note"))
        flash(_("Rattachement de %(child)s au foyer « %(name)s » refusé.", child=link.child.full_name,
                name=link.household.name), "success")
        return redirect(_back_to_links())

    @expose("/fiches-sanitaires")
    @has_access
    def health_changes(self):
        from app.models import Child

        entries = dossier.recent_health_changes()
        children = {c.id: c for c in db.session.execute(
            select(Child).where(Child.id.in_({e.entity_id for e in entries if e.entity_id}))).scalars()}
        households = {h.id: h for h in db.session.execute(
            select(Household).where(Household.id.in_({e.household_id for e in entries if e.household_id})))
            .scalars()}
        return self._page("health_changes.html", entries=entries, children=children, households=households)


def _safe_back(target: str | None) -> str:
    if target and target.startswith(url_for(".queue")) and "//" not in target:
        return target
    return url_for(".shared_links")


def register(appbuilder) -> None:
    appbuilder.add_view(DossierReviewView, "Dossiers à vérifier", icon="fa-check-square-o", category=CATEGORY,
                        category_icon="fa-users")
    appbuilder.add_link("Rattachements à confirmer", href="/revue-dossiers/rattachements", icon="fa-link",
                        category=CATEGORY, baseview=DossierReviewView)
    appbuilder.add_link("Fiches sanitaires modifiées", href="/revue-dossiers/fiches-sanitaires",
                        icon="fa-medkit", category=CATEGORY, baseview=DossierReviewView)
