"""Waiting-list jobs: an offer's lapse, scheduled at its deadline (unique job id per offer)."""
from app.jobs.context import job
from app.services.booking import waitlist


@job
def lapse_offer_job(offer_id: int) -> int:
    """Idempotent: the service locks the week, settles the offer (lapsed, or paid meanwhile) and
    offers the place to the next entry; a second run finds nothing to do. The sweeper catches a lost job."""
    return waitlist.lapse_offer(offer_id)
