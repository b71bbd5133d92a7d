#!/usr/bin/env python
"""Media benchmark: 12-megapixel JPEGs → every derivative, through the media worker's path and through a plain
Pillow loop doing the same work, in the same run.

What is measured (no database or broker needed; everything lives in a temporary directory, removed at the end):

1. Set-up (not timed): `--images` photo-like 4000x3000 JPEGs (gradients plus noise, quality 90, 3-5 MB each),
   written as originals into a local object store, as uploads are.
2. Worker path, in a fresh child process: `ImageWorker.process` for every image — read the original from the store
   (as for an upload), hash it, header checks, `draft` once, EXIF orientation, each size from the previous one
   (LANCZOS, `reducing_gap`), dominant colour, encode WebP and JPEG, store every derivative content-addressed
   (fsync + rename). The content-hash lookup is off (it is a database query), so every image is decoded.
   Run once with one image at a time (per-image latency) and once with `--threads` images at a time (as the worker
   runs, `MEDIA_THREADS`).
3. Raw loop, in another fresh child process: for every image and every size, `Image.open` → `thumbnail()` →
   save WebP and JPEG to files, one image at a time: what a straightforward Pillow script does.

Printed per path: images/s, per-image p50/p99, and the child's peak RSS (VmHWM, which includes the interpreter and
imports, printed as the baseline too), then the ratios.

    .venv/bin/python bench/media.py [--images 20] [--threads 2] [--sizes 1200,600,200]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

QUALITY = {"jpeg": 85, "webp": 80}
BASE_URL = "http://bench.invalid/media"


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def make_originals(directory: Path, count: int) -> list[str]:
    from PIL import Image

    from catalog_kit.object_store import LocalDirectoryStore, content_key, sha256

    store = LocalDirectoryStore(directory / "store")
    keys = []
    noise = Image.effect_noise((4000, 3000), 48).convert("RGB")
    for n in range(count):
        gradient = Image.linear_gradient("L").resize((4000, 3000)).rotate(n * 17, expand=False)
        tint = Image.new("RGB", (4000, 3000), (40 + n * 9 % 200, 90, 200 - n * 7 % 150))
        image = Image.blend(
            Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_180), gradient)), tint, 0.35
        )
        image = Image.blend(image, noise, 0.15)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()
        key = content_key(sha256(io.BytesIO(data)), "originals", ".jpg")
        store.put(key, io.BytesIO(data))
        keys.append(key)
    return keys


def worker_path(root: str, keys: list[str], sizes: tuple[int, ...], threads: int) -> dict[str, Any]:
    """The media worker's per-image work, including reading the original and storing the derivatives."""
    from catalog_kit.object_store import LocalDirectoryStore
    from catalog_kit.outbound import OutboundClient
    from catalog_kit.outbound_policy import OutboundPolicy
    from catalog_media.adapters.fetcher import ImageFetcher
    from catalog_media.adapters.pipeline import Limits, PillowRenderer, apply_pixel_limit
    from catalog_media.domain.geometry import Renditions
    from catalog_media.service_layer.media_processing import ImageWorker

    baseline = vm_kib("VmRSS")
    apply_pixel_limit(50_000_000)
    originals = LocalDirectoryStore(Path(root) / "store")
    # Originals come from the store (own uploads), never over HTTP: the default policy is enough.
    client = OutboundClient(OutboundPolicy())
    fetcher = ImageFetcher(originals, BASE_URL, client, max_bytes=20 * 1024 * 1024, deadline_s=20)
    output = LocalDirectoryStore(Path(root) / f"worker-{threads}")
    worker = ImageWorker(
        fetcher, output, Renditions(sizes), PillowRenderer(Limits(50_000_000, 20_000)), lambda _sha, _r: None
    )
    latencies: list[float] = []

    def one(key: str) -> None:
        started = time.perf_counter()
        outcome = worker.process(f"{BASE_URL}/{key}")
        latencies.append(time.perf_counter() - started)
        assert outcome.status == "processed", outcome.reason

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, keys))
    elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "baseline_kib": baseline, "peak_kib": vm_kib("VmHWM")}


def raw_loop(root: str, keys: list[str], sizes: tuple[int, ...]) -> dict[str, Any]:
    """Plain Pillow: open → thumbnail → save, per size and format, one image at a time."""
    from PIL import Image

    baseline = vm_kib("VmRSS")
    out = Path(root) / "raw"
    out.mkdir(exist_ok=True)
    latencies: list[float] = []
    started = time.perf_counter()
    for n, key in enumerate(keys):
        begun = time.perf_counter()
        for size in sizes:
            with Image.open(Path(root) / "store" / key) as image:
                image.thumbnail((size, size), Image.Resampling.LANCZOS)
                small = image.convert("RGB")
                small.save(out / f"{n}-{size}.webp", "WEBP", quality=QUALITY["webp"])
                small.save(out / f"{n}-{size}.jpg", "JPEG", quality=QUALITY["jpeg"])
        latencies.append(time.perf_counter() - begun)
    elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "baseline_kib": baseline, "peak_kib": vm_kib("VmHWM")}


def in_child(function: Any, *args: Any) -> dict[str, Any]:
    """Run `function` in a fresh process, so its peak RSS is its own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(function, *args).result()
        return result


def report(name: str, count: int, result: dict[str, Any]) -> float:
    latencies = sorted(result["latencies"])
    rate = float(count / result["elapsed"])
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    print(
        f"{name:<34} {rate:6.2f} images/s   p50 {statistics.median(latencies) * 1000:6.0f} ms   "
        f"p99 {p99 * 1000:6.0f} ms   peak RSS {result['peak_kib'] / 1024:6.0f} MiB "
        f"(after imports {result['baseline_kib'] / 1024:.0f} MiB)"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="1200,600,200")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="catalog-bench-media-") as root:
        started = time.perf_counter()
        keys = make_originals(Path(root), args.images)
        total = sum(p.stat().st_size for p in (Path(root) / "store").rglob("*.jpg"))
        print(
            f"{args.images} originals, 4000x3000 JPEG, {total / args.images / 1e6:.1f} MB each on average "
            f"(generated in {time.perf_counter() - started:.1f} s); derivatives {sizes} px x WebP + JPEG\n"
        )
        worker_1 = in_child(worker_path, root, keys, sizes, 1)
        worker_n = in_child(worker_path, root, keys, sizes, args.threads)
        raw = in_child(raw_loop, root, keys, sizes)
        one = report("media worker path, 1 at a time", args.images, worker_1)
        many = report(f"media worker path, {args.threads} at a time", args.images, worker_n)
        baseline = report("raw Pillow loop, 1 at a time", args.images, raw)
    print(
        f"\nworker path / raw loop: {one / baseline:.2f}x the throughput one at a time, "
        f"{many / baseline:.2f}x with {args.threads} threads; "
        f"peak RSS {worker_1['peak_kib'] / max(raw['peak_kib'], 1):.2f}x (1 at a time)"
    )


if __name__ == "__main__":
    main()
