"""Mail jobs."""
from app.services import mail

from app.jobs.context import job


@job
def send_mail_job(mail_id: int) -> None:
    mail.deliver(mail_id)
