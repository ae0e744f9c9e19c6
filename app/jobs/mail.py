"""Mail jobs."""
from app.services import mail

from app.jobs.context import job


@job
def send_mail_job(mail_id: int, bodies: dict | None = None) -> None:
    """`bodies`: the family's copy of a mail whose log row masks its personal links."""
    mail.deliver(mail_id, bodies)
