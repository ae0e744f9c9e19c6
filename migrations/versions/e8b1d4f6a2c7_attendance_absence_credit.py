"""attendance.credit_note_id: the avoir a justified absence gave (issue 18)

Revision ID: e8b1d4f6a2c7
Revises: b4e7c1a9d2f3
Create Date: 2026-12-06 20:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e8b1d4f6a2c7'
down_revision = 'b4e7c1a9d2f3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credit_note_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint('uq_attendance_credit_note_id', ['credit_note_id'])
        batch_op.create_foreign_key('fk_attendance_credit_note_id', 'credit_note', ['credit_note_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.drop_constraint('fk_attendance_credit_note_id', type_='foreignkey')
        batch_op.drop_constraint('uq_attendance_credit_note_id', type_='unique')
        batch_op.drop_column('credit_note_id')
