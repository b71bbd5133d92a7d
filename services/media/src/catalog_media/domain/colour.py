"""The dominant colour of an image: the most common colour, not the average (which is often a muddy grey)."""

from collections import Counter
from collections.abc import Iterable

_SHIFT = 4  # 16 levels per channel: near-identical shades count as one colour


def dominant_colour(pixels: Iterable[tuple[int, int, int]]) -> str:
    """`#rrggbb` of the most frequent colour bucket, as the mean of the pixels that fell into it."""
    counts: Counter[tuple[int, int, int]] = Counter()
    sums: dict[tuple[int, int, int], list[int]] = {}
    for r, g, b in pixels:
        bucket = (r >> _SHIFT, g >> _SHIFT, b >> _SHIFT)
        counts[bucket] += 1
        total = sums.setdefault(bucket, [0, 0, 0])
        total[0] += r
        total[1] += g
        total[2] += b
    if not counts:
        raise ValueError("an image without pixels has no colour")
    # Ties go to the bucket seen first, so the same pixels always give the same colour.
    bucket, count = counts.most_common(1)[0]
    r, g, b = (round(channel / count) for channel in sums[bucket])
    return f"#{r:02x}{g:02x}{b:02x}"
