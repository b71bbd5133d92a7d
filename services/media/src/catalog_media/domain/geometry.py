"""Derivative geometry: which sizes and formats are made, and how large each one comes out."""

from dataclasses import dataclass
from typing import Literal

ImageFormat = Literal["webp", "jpeg"]
FORMATS: tuple[ImageFormat, ...] = ("webp", "jpeg")
# Part of every rendition fingerprint: raising it makes every stored derivative count as outdated.
PIPELINE_REVISION = 1


def fit_long_side(width: int, height: int, long_side: int) -> tuple[int, int]:
    """The size of `width` x `height` scaled so its long side is `long_side`; never larger than the original."""
    if width < 1 or height < 1 or long_side < 1:
        raise ValueError(f"sizes must be positive: {width}x{height} to {long_side}")
    longest = max(width, height)
    if longest <= long_side:
        return width, height
    scale = long_side / longest
    fitted = (max(1, round(width * scale)), max(1, round(height * scale)))
    # The long side is exactly `long_side`, whatever the rounding of the other one.
    return (long_side, fitted[1]) if width >= height else (fitted[0], long_side)


@dataclass(frozen=True)
class Renditions:
    """The derivative sizes (long side, px) and formats every processed image gets."""

    sizes: tuple[int, ...]
    formats: tuple[ImageFormat, ...] = FORMATS

    def __post_init__(self) -> None:
        if not self.sizes or any(s < 1 for s in self.sizes):
            raise ValueError(f"derivative sizes must be positive, got {self.sizes}")
        if not self.formats or any(f not in FORMATS for f in self.formats):
            raise ValueError(f"derivative formats must be among {FORMATS}, got {self.formats}")
        # Largest first: each size is made from the previous one, which is cheaper than from the original.
        object.__setattr__(self, "sizes", tuple(sorted(set(self.sizes), reverse=True)))
        object.__setattr__(self, "formats", tuple(dict.fromkeys(self.formats)))

    @property
    def largest(self) -> int:
        return self.sizes[0]

    @property
    def smallest(self) -> int:
        return self.sizes[-1]

    def fingerprint(self) -> str:
        """Stored with each image: a different fingerprint means its derivatives are outdated."""
        return f"r{PIPELINE_REVISION}:{','.join(map(str, self.sizes))}:{','.join(self.formats)}"
