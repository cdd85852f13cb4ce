"""plan change notice: every plan change told to the patient, with before/after and the patient's confirmation
(architecture flow 5, issue 11 item 3)

Revision ID: 7d3a2c91b4e5
Revises: 9c4d2e6f1a37
Create Date: 2026-11-29 21:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '7d3a2c91b4e5'
down_revision: Union[str, None] = '9c4d2e6f1a37'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('plan_change_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('previous_plan_id', sa.Integer(), nullable=False),
    sa.Column('operation', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('acknowledged_via', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('superseded_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['treatment_plan.id'], ),
    sa.ForeignKeyConstraint(['previous_plan_id'], ['treatment_plan.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_plan_change_notice_patient_id'), 'plan_change_notice', ['patient_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_plan_change_notice_patient_id'), table_name='plan_change_notice')
    op.drop_table('plan_change_notice')
