"""Booking jobs: the expiry of a basket's hold, scheduled at `expires_at` (unique job id per basket)."""
from app.jobs.context import job
from app.services.booking import basket


@job
def expire_basket_job(basket_id: int) -> bool:
    """Idempotent: the service re-reads and locks the basket; a second run, or a run after payment,
    does nothing. A provider error while settling a checkout raises, so RQ retries."""
    return basket.expire_basket(basket_id)
