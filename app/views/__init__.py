"""Every view, API and menu is registered here, in menu order."""
from __future__ import annotations


def register_views(appbuilder) -> None:
    from app.api import attendance as attendance_api
    from app.api import calendar as calendar_api
    from app.api import checkout as checkout_api
    from app.api import consents as consents_api
    from app.api import credits as credits_api
    from app.api import dossier as dossier_api
    from app.api import invoices as invoices_api
    from app.api import portal as portal_api
    from app.api import privacy as privacy_api
    from app.api import waitlist as waitlist_api
    from app.api import wishes as wishes_api
    from app.views import accessibility as accessibility_views
    from app.views import allocation_rules as allocation_rules_views
    from app.views import invitation as invitation_views
    from app.views import payfip as payfip_views
    from app.views import payments as payment_views
    from app.views import privacy as privacy_views
    from app.views import waiting_room as waiting_room_door
    from app.views.admin import organiser as admin_organiser
    from app.views.animator import pages as animator_pages
    from app.views.parent import booking as parent_booking
    from app.views.parent import calendar as parent_calendar
    from app.views.parent import cancellation as parent_cancellation
    from app.views.parent import consents as parent_consents
    from app.views.parent import dossier as parent_dossier
    from app.views.parent import home as parent_home
    from app.views.parent import invoices as parent_invoices
    from app.views.parent import privacy as parent_privacy
    from app.views.parent import receipts as parent_receipts
    from app.views.parent import waitlist as parent_waitlist
    from app.views.parent import wishes as parent_wishes
    from app.views.staff import allocation as staff_allocation
    from app.views.staff import attendance as staff_attendance
    from app.views.staff import cancellations as staff_cancellations
    from app.views.staff import catalog, families, operations, payments, regie_refunds, review
    from app.views.staff import consents as staff_consents
    from app.views.staff import document_types as staff_document_types
    from app.views.staff import household_edit as staff_household_edit
    from app.views.staff import invoices as staff_invoices
    from app.views.staff import qf_campaign as staff_qf_campaign
    from app.views.staff import waiting_room as staff_waiting_room
    from app.views.staff import waitlist as staff_waitlist

    for module in (
        review,  # issue: household file review queue
        families,
        staff_household_edit,  # issue 19: staff edit of a file, desk onboarding
        staff_document_types,  # issue 19: document types' validity, expiring proofs
        staff_consents,  # issue 19: the authorisation questions
        staff_qf_campaign,  # issue 19: the yearly QF renewal campaign
        catalog,
        payments,
        regie_refunds,
        staff_cancellations,  # issue 14: cancellation requests, rules, credit accounts
        staff_invoices,  # issue 16: accountant's export, documents, attestations in bulk
        admin_organiser,  # issue 16: the organiser's identity (Admin only)
        operations,
        staff_waitlist,
        staff_allocation,  # issue 15: rules, dry run, publication, CSV of a wish campaign
        parent_home,
        parent_dossier,
        parent_booking,
        parent_calendar,  # issue 20: « Mon agenda », the household's ICS feed
        parent_receipts,
        parent_invoices,  # issue 16: « Mes factures », tax attestations
        parent_waitlist,
        parent_cancellation,  # issue 14: « Annuler » and « Mes avoirs »
        invitation_views,  # issue 19: claiming a desk-created household
        accessibility_views,  # issue 20: « Déclaration d'accessibilité » (public)
        privacy_views,  # issue 19: « Données personnelles » (public)
        parent_privacy,  # issue 19: « Mes données » (export, erasure request)
        parent_consents,  # issue 19: a child's authorisations
        parent_wishes,  # issue 15: wishes per child, the family's allocation result
        allocation_rules_views,  # issue 15: « Règles d'attribution » (public)
        payment_views,
        payfip_views,
        portal_api,
        privacy_api,  # issue 19: the household's data export and erasure request
        consents_api,  # issue 19: a child's authorisations
        checkout_api,
        credits_api,  # issue 14: cancellation and the credit account
        invoices_api,  # issue 16: invoices, credit notes, tax attestations
        waitlist_api,
        calendar_api,  # issue 20: the ICS feed's address
        dossier_api,  # issue 20: the household file, stop change, receipts in the API
        wishes_api,  # issue 15: wishes and allocation result
        attendance_api,  # issue 18: the animators' sync API
        animator_pages,  # issue 18: the animators' phone pages
        staff_attendance,  # issue 18: hours realised, CAF export, open days
        staff_waiting_room,  # issue 21: the opening's waiting room, live
        waiting_room_door,  # issue 21: the waiting room's door on the booking pages
    ):
        module.register(appbuilder)
