"""The worker, split along its seams: claiming (:mod:`.claimer`), running one task
(:mod:`.execution`), recording outcomes (:mod:`.outcomes`), the heartbeat (:mod:`.heartbeat`),
slot utilization (:mod:`.utilization`) and progress reports (:mod:`.progress`); :mod:`.worker`
composes them."""

from gdw_core.worker.worker import CANCEL_GRACE, Worker, new_worker_id

__all__ = ["CANCEL_GRACE", "Worker", "new_worker_id"]
