"""Per-backend Prometheus metrics (issue 13): health (up / draining / down), jobs by backend and state, queue
length, which backends this replica leads, placements, moves and jobs held in the gateway."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from api.jobs import JobStatus
from api.metrics import Metrics
from tests.unit.api.test_fleet import Make, make
from tests.unit.api.test_tracker_service import GRAPH

__all__ = ["make"]  # the fixture, imported to be used here


def scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_backend_metrics_follow_placements_a_drain_and_held_jobs(make: Make) -> None:
    rig = await make()
    metrics = Metrics()
    rig.fleet.metrics = metrics
    metrics.follow_backends(rig.fleet.samples, rig.fleet.held_count)
    jobs = [await rig.service.submit(GRAPH) for _ in range(3)]
    assert [j.backend for j in jobs] == ["b0", "b1", "b0"]

    seen = scrape(metrics)
    assert value(seen, "comfy_gateway_backend_placements_total", backend="b0") == 2
    assert value(seen, "comfy_gateway_backend_placements_total", backend="b1") == 1
    assert value(seen, "comfy_gateway_backend_jobs", backend="b0", state="pending") == 2
    assert value(seen, "comfy_gateway_backend_jobs", backend="b1", state="pending") == 1
    assert value(seen, "comfy_gateway_backend_queue_length", backend="b0") == 2
    assert value(seen, "comfy_gateway_backend_health", backend="b0", health="up") == 1
    assert value(seen, "comfy_gateway_backend_health", backend="b0", health="down") == 0
    assert value(seen, "comfy_gateway_backend_leading", backend="b1") == 1  # no replicas: it leads all
    assert value(seen, "comfy_gateway_jobs_held") == 0

    rig.wires[0].down = True  # b0 goes away: its two pending jobs move to b1
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    seen = scrape(metrics)
    assert value(seen, "comfy_gateway_backend_health", backend="b0", health="down") == 1
    assert value(seen, "comfy_gateway_backend_health", backend="b0", health="up") == 0
    assert value(seen, "comfy_gateway_job_moves_total", source="b0", target="b1", reason="not_started") == 2
    assert value(seen, "comfy_gateway_backend_jobs", backend="b0", state="pending") == 0
    assert value(seen, "comfy_gateway_backend_jobs", backend="b1", state="pending") == 3

    rig.wires[1].down = True  # b1 too: its jobs wait in the gateway
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    seen = scrape(metrics)
    assert value(seen, "comfy_gateway_jobs_held") == 3
    assert value(seen, "comfy_gateway_job_moves_total", source="b1", target="held", reason="not_started") == 3
    rig.wires[0].down = False  # b0 is back: the held jobs are placed there
    await rig.fleet.check_all()
    seen = scrape(metrics)
    assert value(seen, "comfy_gateway_jobs_held") == 0
    assert value(seen, "comfy_gateway_job_moves_total", source="held", target="b0", reason="placed") == 3
    for job in jobs:
        placed = await rig.service.get(job.prompt_id)
        assert (placed.status, placed.backend) == (JobStatus.PENDING, "b0")
