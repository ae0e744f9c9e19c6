"""Mail jobs."""
from app.jobs.context import job
from app.services import mail


@job
def send_mail_job(mail_id: int, bodies: dict | None = None) -> None:
    """`bodies`: the family's copy of a mail whose log row masks its personal links."""
    mail.deliver(mail_id, bodies)
