"""account_security: per-user auth stamp that ends sessions and JWTs on a password change

Revision ID: 7c1e5a9d3b20
Revises: 55ec0c76a1b1
Create Date: 2026-12-01 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '7c1e5a9d3b20'
down_revision = '55ec0c76a1b1'
branch_labels = None
depends_on = None


def upgrade():
    # No backfill: a user without a row has stamp 0, which every session and token issued before
    # this revision carries implicitly.
    op.create_table('account_security',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('auth_stamp', sa.Integer(), nullable=False),
    sa.Column('stamped_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )


def downgrade():
    op.drop_table('account_security')
