"""The media service's own metrics: images processed by outcome, failures by reason, images in work."""

from collections.abc import Sequence

from prometheus_client import Counter, Gauge

from catalog_media.domain.images import ImageOutcome, Reason

PROCESSED = Counter(
    "catalog_media_processed",
    "Images whose result was stored: processed (derivatives made), failed, or reused (content seen before).",
    ["outcome"],
)
FAILURES = Counter("catalog_media_failures", "Images that failed, by the coarse reason clients are shown.", ["reason"])
IN_PROGRESS = Gauge("catalog_media_images_in_progress", "Images being fetched and rendered right now.")


class MediaMetrics:
    def started(self, images: int) -> None:
        IN_PROGRESS.inc(images)

    def ended(self, images: int) -> None:
        IN_PROGRESS.dec(images)

    def finished(self, made: Sequence[ImageOutcome], reused: int) -> None:
        failed = [outcome.reason for outcome in made if outcome.status == "failed"]
        if processed := len(made) - len(failed):
            PROCESSED.labels("processed").inc(processed)
        if failed:
            PROCESSED.labels("failed").inc(len(failed))
        if reused:
            PROCESSED.labels("reused").inc(reused)
        for reason in failed:
            # Reasons are a closed set; anything else (none should be) is counted together, not as a new series.
            FAILURES.labels(reason if reason in _REASONS else "other").inc()


_REASONS = frozenset(reason.value for reason in Reason)
for _outcome in ("processed", "failed", "reused"):
    PROCESSED.labels(_outcome)  # every series exists from the start, at 0
for _reason in _REASONS:
    FAILURES.labels(_reason)
