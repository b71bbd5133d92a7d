"""Fetching a supplier feed into the object store: over HTTP under the outbound policy (a conditional GET with the
last ETag), or copied from another object-store key. The store computes the SHA-256 while it writes."""

from dataclasses import dataclass

from catalog_kit.object_store import ObjectStore, StoredObject
from catalog_kit.outbound import OutboundClient

CHUNK = 64 * 1024


class FeedUnavailable(Exception):
    """The feed's source gave no file: an HTTP status other than 200 or 304."""


@dataclass(frozen=True)
class Fetched:
    stored: StoredObject | None  # None: not modified (304)
    etag: str | None


class FeedFetcher:
    def __init__(self, client: OutboundClient, objects: ObjectStore, max_bytes: int, deadline_s: float) -> None:
        self.client = client
        self.objects = objects
        self.max_bytes = max_bytes
        self.deadline_s = deadline_s

    def fetch(self, source: str, etag: str | None, key: str, is_url: bool) -> Fetched:
        """Store the feed at `key`, unless its URL answers 304 to the last ETag."""
        if not is_url:
            with self.objects.open(source) as stream:
                return Fetched(self.objects.put(key, stream, max_bytes=self.max_bytes), None)
        headers = {"If-None-Match": etag} if etag else {}
        with self.client.stream("GET", source, deadline_s=self.deadline_s, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(None, etag)
            if response.status_code != 200:
                raise FeedUnavailable(f"HTTP {response.status_code}")
            writer = self.objects.writer(key, max_bytes=self.max_bytes)
            try:
                for chunk in response.iter_raw(CHUNK):
                    writer.write(chunk)
            except BaseException:
                writer.abort()
                raise
            return Fetched(writer.commit(), response.headers.get("etag"))
