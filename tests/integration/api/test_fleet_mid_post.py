"""A job mid-POST when its backend goes away (issue 13), against two real local ComfyUIs: backend `a` sits
behind a TCP proxy that holds POST /prompt and then cuts every connection (the backend unreachable from
then on). The submit answers 200 with the job moved to `b` under the same prompt id, not 503 with a job
left `submitting`; when `a` answers again and turns out to get the job after all (the lost request arriving
late), the gateway withdraws it there: it runs once, on `b`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from comfyui_client import ComfyClient
from tests.gateway_support import fresh, gateway_settings, running_gateway
from tests.integration.api.tcp_proxy import tcp_proxy
from tests.integration.api.test_fleet_live import SLOW, two_comfyuis

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # two ComfyUIs start: 20-60 s

__all__ = ["two_comfyuis"]  # the fixture, imported to be used here


async def test_a_post_cut_off_by_a_vanishing_backend_moves_the_job_and_a_late_arrival_is_withdrawn(
    two_comfyuis: Any, tmp_path: Path
) -> None:
    comfy_a, comfy_b = two_comfyuis
    async with tcp_proxy(comfy_a.url) as proxy:
        settings = gateway_settings(
            comfy_a.url,
            tmp_path / "mid-post.db",
            comfyui_urls=f"{proxy.url};name=a,{comfy_b.url};name=b",
            comfyui_timeout=2.0,
            submit_confirm_window=1.0,
            reconcile_interval=0.5,
            fleet_health_interval=0.5,
            fleet_fail_after=2,
            fleet_retry_interval=1.0,
        )
        async with running_gateway(settings) as gw:
            proxy.prompt_delay = 60.0  # the POST to `a` (chosen first: equal loads) never gets through
            submit = asyncio.create_task(
                gw.http.post("/api/workflow/submit", json={"workflow": {"prompt": fresh(SLOW)}})
            )
            while proxy.prompts_held < 1:
                assert not submit.done(), (await submit).text
                await asyncio.sleep(0.05)
            proxy.refusing = True  # `a` is gone: the held POST and every pooled connection cut
            proxy.drop_all()
            started = time.monotonic()
            resp = await asyncio.wait_for(submit, 30)
            answered = time.monotonic() - started
            assert resp.status_code == 200, resp.text
            pid = resp.json()["prompt_id"]
            job = await gw.status(pid)
            assert job["status"] in ("pending", "running") and job["backend"] == "b", job
            assert proxy.prompts_forwarded == 0  # `a` never got it

            # `a` answers again, and the lost request turns up there after all (the gateway's client id).
            proxy.refusing, proxy.prompt_delay = False, 0.0
            client_id = gw.app.state.client.client_id
            async with ComfyClient(comfy_a.url, client_id=client_id) as late:
                await late.submit(fresh(SLOW), prompt_id=pid)
                deadline = time.monotonic() + 30
                while pid in await late.queue():  # withdrawn by the tracker of `a`
                    assert time.monotonic() - deadline < 0, "the late arrival on `a` was never withdrawn"
                    await asyncio.sleep(0.2)
                entry = await late.history(pid)
                assert entry is None or entry.outcome == "interrupted", entry

            final = await gw.wait(pid, within=120)
            assert final["status"] == "completed" and final["backend"] == "b", final
    print(f"mid-POST: the submit answered 200 on `b` {answered:.1f} s after `a` vanished")
