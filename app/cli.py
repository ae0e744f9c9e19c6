"""Commands: `flask --app run sync-roles | seed-demo | worker | sweep | allocate`."""
from __future__ import annotations

import click
from flask import Flask, current_app


def register_cli(app: Flask) -> None:
    @app.cli.command("sync-roles")
    def sync_roles_command():
        """Create the permissions of every view and give Admin, Staff and Parent exactly theirs."""
        from app.security import sync_roles

        counts = sync_roles(current_app.appbuilder)
        for role, count in counts.items():
            click.echo(f"{role}: {count} permissions")

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Only when the database has no establishment yet.")
    def seed_demo_command(if_empty: bool):
        """Demo catalogue, accounts and households (idempotent)."""
        from app.models import Establishment, db
        from app.services.demo import seed_demo, seed_waiting_list_demo

        if if_empty and db.session.query(Establishment.id).first() is not None:
            click.echo("Données de démonstration déjà présentes.")
            return
        info = seed_demo(current_app.appbuilder)
        info["accounts"] += seed_waiting_list_demo(current_app.appbuilder)  # a full week, three families waiting
        click.echo("Comptes de démonstration (mot de passe : %s) :" % info["password"])
        for account in info["accounts"]:
            click.echo(f"  - {account}")

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
    def worker_command(burst: bool):
        """Run an RQ worker with its scheduler (production: one or more of these next to gunicorn)."""
        from app.jobs.worker import run_worker

        run_worker(current_app._get_current_object(), burst=burst)

    @app.cli.command("sweep")
    def sweep_command():
        """Run the sweeper's tasks once, now."""
        from app.services.maintenance import sweep

        sweep()

    @app.cli.command("allocate")
    @click.argument("period_id", type=int)
    @click.option("--dry-run", is_flag=True, help="Show the result without publishing anything.")
    @click.option("--public-value", default="", help="The draw's public value (required to publish).")
    def allocate_command(period_id: int, dry_run: bool, public_value: str):
        """Allocate a period opened by wishes: the same dry run and publication as the staff screen."""
        from app.services.booking import allocation_reads, allocation_run
        from app.services.errors import ServiceError

        try:
            if dry_run:
                report = allocation_reads.dry_run_report(allocation_run.dry_run(period_id, public_value or None))
                click.echo(f"Graine : {report['seed']} (valeur publique : {report['public_value']})")
                click.echo(f"Familles : {report['households']} ; vœux : {report['wishes']} ; semaines attribuées : "
                           f"{report['given']} ; {report['summary']}")
                for week in report["weeks"]:
                    click.echo(f"  {week['label']} : {week['given']}/{week['free_before']} places ({week['fill']} %), "
                               f"{week['wished']} vœux")
                return
            run = allocation_run.publish(period_id, public_value)
            click.echo(f"Attribution publiée (graine {run.seed}).")
        except ServiceError as exc:
            raise click.ClickException(exc.message) from exc
