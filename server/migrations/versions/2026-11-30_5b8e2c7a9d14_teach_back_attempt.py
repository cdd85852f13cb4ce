"""teach_back_attempt: the patient's answers to the schedule teach-back (issue 14 item 2)

Revision ID: 5b8e2c7a9d14
Revises: b7c41e9d2a06
Create Date: 2026-11-30 09:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '5b8e2c7a9d14'
down_revision: Union[str, None] = 'b7c41e9d2a06'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('teach_back_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('question', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('correct', sa.Boolean(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('source_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['treatment_plan.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id', 'plan_id', 'question', 'attempt', name='uq_teach_back_attempt'),
    sa.UniqueConstraint('source_key')
    )
    with op.batch_alter_table('teach_back_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teach_back_attempt_patient_id'), ['patient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('teach_back_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teach_back_attempt_patient_id'))
    op.drop_table('teach_back_attempt')
