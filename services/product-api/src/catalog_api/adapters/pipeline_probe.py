"""Reads the processors' health ports for the console's overview: `/readyz` (JSON) and `/metrics` (Prometheus
text, parsed with prometheus_client's parser).

These addresses are operator configuration (`PIPELINE_TARGETS`), never user input, and they are internal by
design: so they are fetched with a plain httpx client with short timeouts, not through the outbound policy that
refuses internal addresses for URLs the platform is given.
"""

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from catalog_api.domain.pipeline import Sample, TargetReport

TIMEOUT = httpx.Timeout(1.5, connect=0.5)


async def probe(targets: dict[str, str]) -> list[TargetReport]:
    """Every target's report, read concurrently; a target that does not answer is reported as such."""
    async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False) as client:
        return list(await asyncio.gather(*(_one(client, name, url) for name, url in targets.items())))


async def _one(client: httpx.AsyncClient, name: str, url: str) -> TargetReport:
    report = TargetReport(name, url)
    try:
        ready = await client.get(f"{url}/readyz")  # 503 (not ready) still carries the report
        body = ready.json()
        report.readyz = body if isinstance(body, dict) else None
    except (httpx.HTTPError, ValueError) as exc:
        report.error = f"no answer from {url}/readyz ({type(exc).__name__})"
        return report
    try:
        metrics = await client.get(f"{url}/metrics")
        if metrics.status_code == 200:
            report.samples = [
                Sample(sample.name, dict(sample.labels), float(sample.value))
                for family in text_string_to_metric_families(metrics.text)
                for sample in family.samples
            ]
    except (httpx.HTTPError, ValueError):
        pass  # metrics are optional: the figures fall back to /readyz
    return report
