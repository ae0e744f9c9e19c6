"""document_type: staff's settings per kind of proof (name, required for, validity rule, reminder) (issue 19)

Revision ID: b8d4f2a6c1e3
Revises: f7b2c9d4e1a6
Create Date: 2026-12-06 20:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b8d4f2a6c1e3'
down_revision = 'f7b2c9d4e1a6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'document_type',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('per_child', sa.Boolean(), nullable=False),
        sa.Column('required_for', sa.String(length=10), nullable=False),
        sa.Column('validity_rule', sa.String(length=20), nullable=False),
        sa.Column('validity_months', sa.Integer(), nullable=True),
        sa.Column('remind_days', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("validity_rule IN ('none', 'months', 'school_year', 'calendar_year')",
                           name='ck_document_type_rule'),
        sa.CheckConstraint("required_for IN ('all', 'alsh', 'sejour')", name='ck_document_type_required_for'),
        sa.CheckConstraint('validity_months IS NULL OR (validity_months >= 1 AND validity_months <= 120)',
                           name='ck_document_type_months'),
        sa.CheckConstraint('remind_days >= 0 AND remind_days <= 365', name='ck_document_type_remind_days'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind'),
    )


def downgrade():
    op.drop_table('document_type')
