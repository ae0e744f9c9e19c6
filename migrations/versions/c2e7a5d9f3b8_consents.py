"""consent_question, child_consent: staff's authorisation questions and each family's answers (issue 19)

Revision ID: c2e7a5d9f3b8
Revises: b8d4f2a6c1e3
Create Date: 2026-12-06 20:55:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c2e7a5d9f3b8'
down_revision = 'b8d4f2a6c1e3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'consent_question',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=300), nullable=False),
        sa.Column('help_text', sa.Text(), nullable=True),
        sa.Column('establishment_kind', sa.String(length=10), nullable=False),
        sa.Column('on_bus_list', sa.Boolean(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("establishment_kind IN ('all', 'alsh', 'sejour')", name='ck_consent_question_kind'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'child_consent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('child_id', sa.Integer(), nullable=False),
        sa.Column('question_id', sa.Integer(), nullable=False),
        sa.Column('granted', sa.Boolean(), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answered_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['child_id'], ['child.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['question_id'], ['consent_question.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['answered_by_id'], ['ab_user.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('household_id', 'child_id', 'question_id', name='uq_child_consent'),
    )
    for table, columns in (('child_consent', ('household_id', 'child_id', 'question_id', 'answered_by_id')),):
        for column in columns:
            op.create_index(f'ix_{table}_{column}', table, [column])


def downgrade():
    op.drop_table('child_consent')
    op.drop_table('consent_question')
