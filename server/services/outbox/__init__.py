"""The outbox: every message the worker sends (`OutboundMessage` rows), from planning to a final state
(architecture flows 2, 3 and 4). One module per concern; import names from the module that owns them:

- `vocabulary`: statuses and kinds (`MessageStatus`, `MessageKind`), their groups, expiry reasons, delivery ranks;
- `planning`: the clinical schedule as rows (`replan_patient`, `plan_all_patients`), quiet hours;
- `enqueue`: ready-made messages such as SMS replies (`enqueue_sms`);
- `claims`: `claim_due_messages`, `mark_sending`, `release_claims`, `reap_stale_claims`, `expire_overdue`;
- `recipients`: what the dispatcher needs to know about the patients of a batch (`load_recipients`);
- `outcomes`: retries (`RetryPolicy`) and writing what became of each claim (`record_progress`, `finish_claim`);
- `receipts`: the provider's delivery status callbacks (`record_delivery_status`);
- `opt_out`: STOP/START and the care-team alert for patients we cannot reach.

The worker calls, in order: `reap_stale_claims`, `expire_overdue`, `claim_due_messages`, `load_recipients`, then
`record_progress` (outcomes written, next rows marked `sending`) turn after turn, with `finish_claim` for outcomes
that have side effects and `release_claims` when stopping.

Life cycle of a row (the `status` column):

    pending -> claimed -> sending -> sent | failed | unknown | pending (transient error: retry later)
    pending | claimed -> cancelled | expired
    claimed -> pending            (released: the worker stopped, or the lease ran out, before the send began)
    sending -> unknown            (the lease ran out during the send: it may have been accepted)

`claimed` means "taken by a worker, provably not sent yet"; `sending` is written (and committed) before the
request leaves, so a row that is not `sending` was never handed to a provider. That is what lets a dead worker's
rows be reaped without ever sending anything twice.
"""
