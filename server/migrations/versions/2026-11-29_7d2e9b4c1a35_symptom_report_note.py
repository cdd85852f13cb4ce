"""symptom_report.note: the patient's optional words for the care team with a check-in (issue 11 item 7)

Revision ID: 7d2e9b4c1a35
Revises: 7d3a2c91b4e5
Create Date: 2026-11-29 21:25:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '7d2e9b4c1a35'
down_revision = '7d3a2c91b4e5'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('symptom_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('symptom_report', schema=None) as batch_op:
        batch_op.drop_column('note')
