"""custom document types: staff add their own kinds of proof (issue 19)

Revision ID: e9a3c6f2d8b4
Revises: d5f1b8e3a7c2
Create Date: 2026-12-06 21:15:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e9a3c6f2d8b4'
down_revision = 'd5f1b8e3a7c2'
branch_labels = None
depends_on = None

_KINDS = ("kind IN ('qf_attestation', 'insurance', 'vaccinations', 'custody_judgement', 'employer_attestation', "
          "'medical_certificate')")


def upgrade():
    with op.batch_alter_table('document_type') as batch:
        batch.add_column(sa.Column('custom', sa.Boolean(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default='1'))
    with op.batch_alter_table('document') as batch:
        batch.drop_constraint('ck_document_kind', type_='check')
        batch.create_check_constraint('ck_document_kind', f"{_KINDS} OR kind LIKE 'custom_%'")


def downgrade():
    op.execute("DELETE FROM document WHERE kind LIKE 'custom_%'")
    with op.batch_alter_table('document') as batch:
        batch.drop_constraint('ck_document_kind', type_='check')
        batch.create_check_constraint('ck_document_kind', _KINDS)
    op.execute("DELETE FROM document_type WHERE custom")
    with op.batch_alter_table('document_type') as batch:
        batch.drop_column('active')
        batch.drop_column('custom')
