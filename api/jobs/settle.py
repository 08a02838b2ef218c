"""Where a job is on ComfyUI, asked rather than guessed: queued, running, finished, or absent.

Used to settle a submission whose POST /prompt got no clear answer (a timeout, a dropped connection, a
crash of the gateway between writing the job's row and hearing back), before answering and at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from comfyui_client import ComfyClient, ComfyError, HistoryEntry

Where = Literal["queued", "running", "finished", "absent"]


@dataclass(frozen=True)
class Location:
    where: Where
    entry: HistoryEntry | None = None  # set when finished

    @property
    def known(self) -> bool:
        return self.where != "absent"


async def locate(client: ComfyClient, prompt_id: str) -> Location:
    """Ask /queue, then /history (ComfyError when ComfyUI does not answer).

    The order matters: ComfyUI moves a job from its queue to its history under one lock, so a job absent
    from the queue at the first question and from the history at the second had not arrived at the first.
    """
    snapshot = await client.queue()
    if snapshot.is_running(prompt_id):
        return Location("running")
    if prompt_id in snapshot:
        return Location("queued")
    entry = await client.history(prompt_id)
    return Location("finished", entry) if entry is not None else Location("absent")


def never_sent(exc: ComfyError) -> bool:
    """The request cannot have reached ComfyUI: the connection itself was refused or never made."""
    import httpx

    from comfyui_client import ComfyUnavailable

    return isinstance(exc, ComfyUnavailable) and isinstance(
        exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout
    )
