"""document kind medical_certificate: the justification of a late cancellation (issue 14)

Revision ID: c6a2f8d4e1b9
Revises: e8b1d4f6a2c7
Create Date: 2026-12-06 20:20:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c6a2f8d4e1b9'
down_revision = 'e8b1d4f6a2c7'
branch_labels = None
depends_on = None

_OLD_KINDS = "kind IN ('qf_attestation', 'insurance', 'vaccinations', 'custody_judgement', 'employer_attestation')"
_NEW_KINDS = ("kind IN ('qf_attestation', 'insurance', 'vaccinations', 'custody_judgement', 'employer_attestation', "
              "'medical_certificate')")


def upgrade():
    with op.batch_alter_table('document') as batch:
        batch.drop_constraint('ck_document_kind', type_='check')
        batch.create_check_constraint('ck_document_kind', _NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM document WHERE kind = 'medical_certificate'")
    with op.batch_alter_table('document') as batch:
        batch.drop_constraint('ck_document_kind', type_='check')
        batch.create_check_constraint('ck_document_kind', _OLD_KINDS)
