"""Jobs: the state machine, the database, the tracker that follows ComfyUI, and the service routes use."""

from api.jobs.service import JobService, JobWaitTimeout
from api.jobs.state import Job, JobError, JobStatus
from api.jobs.store import JobStore
from api.jobs.tracker import JobTracker
from comfyui_client import OutputRef

__all__ = [
    "Job",
    "JobError",
    "JobService",
    "JobStatus",
    "JobStore",
    "JobTracker",
    "JobWaitTimeout",
    "OutputRef",
]
