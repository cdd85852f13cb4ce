"""history indexes: weight_entry(patient_id, at) and dose_event(patient_id, scheduled_for) (issue 16)

The roster reads each patient's latest weight and the patient page a dose grid by day; with only the single-column
patient_id indexes both walked every row of a patient (266,732 weight rows at 5,000 patients).

Revision ID: 9e4a61c3b8d2
Revises: 7d2e9b4c1a35
Create Date: 2026-11-29 21:20:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '9e4a61c3b8d2'
down_revision: str | None = '7d2e9b4c1a35'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_weight_entry_patient_at', 'weight_entry', ['patient_id', 'at'])
    op.create_index('ix_dose_event_patient_scheduled_for', 'dose_event', ['patient_id', 'scheduled_for'])


def downgrade() -> None:
    op.drop_index('ix_dose_event_patient_scheduled_for', table_name='dose_event')
    op.drop_index('ix_weight_entry_patient_at', table_name='weight_entry')
