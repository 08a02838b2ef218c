"""API errors of job submission (issue 12): part of the `api.errors.ApiError` tree."""

from __future__ import annotations

from api.errors import RETRY_AFTER_SECONDS, ApiError, BackendUnavailable


class IdempotencyConflict(ApiError):
    """The Idempotency-Key was first used with a different request body (422)."""

    status_code = 422
    code = "idempotency_key_reused"


class JobDatabaseUnavailable(ApiError):
    """The job could not be recorded (database locked, read-only or full): nothing was sent to ComfyUI."""

    status_code = 503
    code = "database_unavailable"

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class SubmitUnconfirmed(BackendUnavailable):
    """POST /prompt got no answer and ComfyUI could not be asked whether it has the job (503).

    The job stays `submitting` and is settled from ComfyUI's /queue and /history once it answers; its
    `prompt_id` is in the body. Retry with the same Idempotency-Key to get this job, never a second run.
    """

    code = "submit_unconfirmed"


class NotSubmitted(BackendUnavailable):
    """POST /prompt failed and ComfyUI, asked afterwards, does not have the job: it was not run (503).

    Safe to retry (the same Idempotency-Key submits anew); should the lost request still reach ComfyUI,
    the gateway withdraws it.
    """

    code = "not_submitted"


class CancelUnconfirmed(BackendUnavailable):
    """ComfyUI could not be asked to cancel the job (503): never a false `cancelled`.

    The body carries the job's `prompt_id`, its current `status` and `cancel_requested: true`; the cancel is
    recorded and the gateway asks ComfyUI again until it confirms the job's end.
    """

    code = "cancel_unconfirmed"
