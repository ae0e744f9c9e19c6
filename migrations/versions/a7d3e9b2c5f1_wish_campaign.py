"""wish campaign: period opening mode and wish window, wishes, allocation rules and runs; employer attestation

Revision ID: a7d3e9b2c5f1
Revises: a7c3e9d2f5b1
Create Date: 2026-12-05 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a7d3e9b2c5f1'
down_revision = 'a7c3e9d2f5b1'
branch_labels = None
depends_on = None

_OLD_KINDS = "kind IN ('qf_attestation', 'insurance', 'vaccinations', 'custody_judgement')"
_NEW_KINDS = "kind IN ('qf_attestation', 'insurance', 'vaccinations', 'custody_judgement', 'employer_attestation')"


def upgrade():
    with op.batch_alter_table('period') as batch:
        batch.add_column(sa.Column('opening_mode', sa.String(length=12), nullable=False,
                                   server_default='first_come'))
        batch.add_column(sa.Column('wishes_open_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('wishes_close_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('results_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('offer_hours', sa.Integer(), nullable=False, server_default='72'))
        batch.add_column(sa.Column('max_weeks_per_child', sa.Integer(), nullable=True))
        batch.create_check_constraint('ck_period_opening_mode', "opening_mode IN ('first_come', 'wishes')")
        batch.create_check_constraint('ck_period_offer_hours', 'offer_hours >= 1')
        batch.create_check_constraint('ck_period_max_weeks', 'max_weeks_per_child IS NULL OR max_weeks_per_child >= 1')

    with op.batch_alter_table('document') as batch:
        batch.drop_constraint('ck_document_kind', type_='check')
        batch.create_check_constraint('ck_document_kind', _NEW_KINDS)

    op.create_table('wish',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('week_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('transport_mode', sa.String(length=10), nullable=False),
    sa.Column('stop_id', sa.Integer(), nullable=True),
    sa.Column('together', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('rank >= 1', name='ck_wish_rank'),
    sa.CheckConstraint("transport_mode IN ('bus', 'onsite', 'any')", name='ck_wish_transport'),
    sa.CheckConstraint("(transport_mode = 'onsite' AND stop_id IS NULL) OR (transport_mode <> 'onsite' "
                       "AND stop_id IS NOT NULL)", name='ck_wish_transport_stop'),
    sa.ForeignKeyConstraint(['period_id'], ['period.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['child_id'], ['child.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['week_id'], ['week.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stop_id'], ['stop.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('household_id', 'child_id', 'week_id', name='uq_wish_household_child_week'),
    sa.UniqueConstraint('household_id', 'child_id', 'period_id', 'rank', name='uq_wish_household_child_rank'),
    )
    op.create_index('ix_wish_period_household', 'wish', ['period_id', 'household_id'])
    op.create_index(op.f('ix_wish_household_id'), 'wish', ['household_id'])
    op.create_index(op.f('ix_wish_child_id'), 'wish', ['child_id'])
    op.create_index(op.f('ix_wish_week_id'), 'wish', ['week_id'])

    op.create_table('allocation_rules',
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('resident_points', sa.Integer(), nullable=False),
    sa.Column('resident_communes', sa.Text(), nullable=True),
    sa.Column('working_points', sa.Integer(), nullable=False),
    sa.Column('sibling_points', sa.Integer(), nullable=False),
    sa.Column('no_previous_week_points', sa.Integer(), nullable=False),
    sa.Column('low_quotient_points', sa.Integer(), nullable=False),
    sa.Column('quotient_threshold', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('resident_points >= 0 AND working_points >= 0 AND sibling_points >= 0 '
                       'AND no_previous_week_points >= 0 AND low_quotient_points >= 0', name='ck_allocation_points'),
    sa.ForeignKeyConstraint(['period_id'], ['period.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('period_id'),
    )

    op.create_table('allocation_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('public_value', sa.Text(), nullable=False),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('rules_json', sa.Text(), nullable=False),
    sa.Column('result_json', sa.Text(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['period_id'], ['period.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['published_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('period_id'),
    )


def downgrade():
    op.drop_table('allocation_run')
    op.drop_table('allocation_rules')
    op.drop_index(op.f('ix_wish_week_id'), table_name='wish')
    op.drop_index(op.f('ix_wish_child_id'), table_name='wish')
    op.drop_index(op.f('ix_wish_household_id'), table_name='wish')
    op.drop_index('ix_wish_period_household', table_name='wish')
    op.drop_table('wish')
    with op.batch_alter_table('document') as batch:
        batch.drop_constraint('ck_document_kind', type_='check')
        batch.create_check_constraint('ck_document_kind', _OLD_KINDS)
    with op.batch_alter_table('period') as batch:
        batch.drop_constraint('ck_period_max_weeks', type_='check')
        batch.drop_constraint('ck_period_offer_hours', type_='check')
        batch.drop_constraint('ck_period_opening_mode', type_='check')
        for column in ('max_weeks_per_child', 'offer_hours', 'results_at', 'wishes_close_at', 'wishes_open_at',
                       'opening_mode'):
            batch.drop_column(column)
