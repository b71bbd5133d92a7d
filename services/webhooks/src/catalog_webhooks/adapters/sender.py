"""POSTs a signed delivery through the platform's outbound client (its policy refuses internal addresses)."""

import contextlib
import time
from datetime import UTC, datetime

import httpx

from catalog_kit.outbound import OutboundClient, OutboundError, read_body
from catalog_webhooks.adapters.deliveries import AttemptResult

MAX_RESPONSE_BYTES = 64 * 1024


class HttpSender:
    """One POST per attempt; any answer but a 2xx, and no answer at all, is a failed attempt."""

    def __init__(self, client: OutboundClient, deadline_s: float) -> None:
        self.client = client
        self.deadline_s = deadline_s

    def post(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        started_at = datetime.now(UTC)
        start = time.monotonic()
        status: int | None = None
        error: str | None
        try:
            with self.client.stream(
                "POST",
                url,
                deadline_s=self.deadline_s,
                headers={**headers, "Content-Type": "application/json"},
                content=body,
            ) as response:
                status = response.status_code
                # Only the status counts; a short body is read all the same so that the connection can be used
                # again (an unread one is closed). A long or slow one is left: the status is known.
                with contextlib.suppress(OutboundError, httpx.HTTPError):
                    read_body(response, MAX_RESPONSE_BYTES)
            error = None if 200 <= status < 300 else f"http_{status}"
        except OutboundError as exc:
            error = exc.reason.value
        return AttemptResult(started_at, status, error, round((time.monotonic() - start) * 1000))

    def close(self) -> None:
        self.client.close()
