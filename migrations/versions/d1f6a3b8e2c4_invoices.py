"""invoices: organiser identity, invoices and their lines, tariff meal share, mail attachments

Revision ID: d1f6a3b8e2c4
Revises: a7d3e9b2c5f1
Create Date: 2026-12-05 11:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd1f6a3b8e2c4'
down_revision = 'a7d3e9b2c5f1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'organiser',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('siret', sa.String(length=14), nullable=False),
        sa.Column('regie_name', sa.String(length=200), nullable=False),
        sa.Column('regie_number', sa.String(length=50), nullable=False),
        sa.Column('contact', sa.Text(), nullable=False),
        sa.Column('logo', sa.LargeBinary(), nullable=True),
        sa.Column('logo_mime', sa.String(length=30), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('id = 1', name='ck_organiser_single_row'),
    )
    op.create_table(
        'invoice',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('number', sa.String(length=20), nullable=False, unique=True),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('household_id', sa.Integer(), sa.ForeignKey('household.id', ondelete='RESTRICT'), nullable=False),
        sa.Column('basket_id', sa.Integer(), sa.ForeignKey('basket.id', ondelete='RESTRICT'), nullable=False,
                  unique=True),
        sa.Column('payment_id', sa.Integer(), sa.ForeignKey('payment.id', ondelete='RESTRICT'), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('payer_name', sa.String(length=200), nullable=False),
        sa.Column('payer_address', sa.Text(), nullable=False),
        sa.Column('total_cents', sa.Integer(), nullable=False),
        sa.Column('card_cents', sa.Integer(), nullable=False),
        sa.Column('payment_method', sa.String(length=30), nullable=False),
        sa.Column('payment_provider', sa.String(length=20), nullable=False),
        sa.Column('credit_cents', sa.Integer(), nullable=False),
        sa.Column('credit_notes', sa.Text(), nullable=False),
        sa.UniqueConstraint('year', 'sequence', name='uq_invoice_year_sequence'),
        sa.CheckConstraint('total_cents >= 0', name='ck_invoice_total'),
        sa.CheckConstraint('card_cents >= 0 AND credit_cents >= 0', name='ck_invoice_paid_parts'),
    )
    op.create_index('ix_invoice_household_id', 'invoice', ['household_id'])
    op.create_index('ix_invoice_payment_id', 'invoice', ['payment_id'])
    op.create_index('ix_invoice_issued_at', 'invoice', ['issued_at'])
    op.create_table(
        'invoice_line',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('invoice_id', sa.Integer(), sa.ForeignKey('invoice.id', ondelete='CASCADE'), nullable=False),
        sa.Column('reservation_id', sa.Integer(), sa.ForeignKey('reservation.id', ondelete='SET NULL')),
        sa.Column('child_id', sa.Integer(), sa.ForeignKey('child.id', ondelete='SET NULL')),
        sa.Column('child_name', sa.String(length=200), nullable=False),
        sa.Column('child_birth_date', sa.Date()),
        sa.Column('week_label', sa.String(length=100), nullable=False),
        sa.Column('week_starts_on', sa.Date(), nullable=False),
        sa.Column('week_ends_on', sa.Date(), nullable=False),
        sa.Column('establishment_name', sa.String(length=200), nullable=False),
        sa.Column('establishment_kind', sa.String(length=10), nullable=False),
        sa.Column('bracket_label', sa.String(length=100), nullable=False),
        sa.Column('quotient', sa.Integer()),
        sa.Column('transport', sa.String(length=200), nullable=False),
        sa.Column('price_cents', sa.Integer(), nullable=False),
        sa.Column('bus_price_cents', sa.Integer(), nullable=False),
        sa.Column('meal_share_cents', sa.Integer(), nullable=False),
        sa.Column('total_cents', sa.Integer(), nullable=False),
    )
    op.create_index('ix_invoice_line_invoice_id', 'invoice_line', ['invoice_id'])
    op.create_index('ix_invoice_line_reservation_id', 'invoice_line', ['reservation_id'])
    op.create_index('ix_invoice_line_child_id', 'invoice_line', ['child_id'])
    with op.batch_alter_table('tariff_bracket') as batch:
        batch.add_column(sa.Column('meal_share_cents', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('mail_log') as batch:
        batch.add_column(sa.Column('attachments', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('mail_log') as batch:
        batch.drop_column('attachments')
    with op.batch_alter_table('tariff_bracket') as batch:
        batch.drop_column('meal_share_cents')
    op.drop_table('invoice_line')
    op.drop_table('invoice')
    op.drop_table('organiser')
