"""Category size priors and label vocabulary.

Typical sizes of indoor objects [m] as (length, width, height), length >= width: the
horizontal long side, the short side, the height. They are used only for the sides of an
object that no view has measured (a wardrobe against a wall shows no depth) and such
estimates are marked ``size_from_prior``. Figures are rounded common furniture
dimensions (e.g. a single bed 2.0 x 0.9 m, a dining chair 0.45 x 0.45 x 0.9 m).
"""

from __future__ import annotations

import numpy as np

SIZE_PRIORS_M: dict[str, tuple[float, float, float]] = {
    "armchair": (0.85, 0.8, 0.9),
    "backpack": (0.35, 0.2, 0.45),
    "bathtub": (1.7, 0.75, 0.6),
    "bed": (2.0, 1.4, 0.6),
    "bench": (1.2, 0.4, 0.45),
    "bicycle": (1.7, 0.5, 1.0),
    "book": (0.24, 0.17, 0.03),
    "bookshelf": (0.9, 0.35, 1.8),
    "bottle": (0.08, 0.08, 0.25),
    "bowl": (0.16, 0.16, 0.07),
    "box": (0.5, 0.4, 0.4),
    "cabinet": (0.8, 0.5, 0.9),
    "chair": (0.5, 0.5, 0.9),
    "clock": (0.3, 0.06, 0.3),
    "coffee table": (1.1, 0.6, 0.45),
    "computer": (0.45, 0.2, 0.45),
    "couch": (2.0, 0.9, 0.85),
    "cup": (0.09, 0.09, 0.1),
    "curtain": (1.5, 0.1, 2.2),
    "desk": (1.4, 0.7, 0.75),
    "dining table": (1.6, 0.9, 0.75),
    "dishwasher": (0.6, 0.6, 0.85),
    "door": (0.9, 0.1, 2.05),
    "dresser": (1.2, 0.5, 0.9),
    "fireplace": (1.4, 0.5, 1.1),
    "keyboard": (0.45, 0.15, 0.03),
    "lamp": (0.4, 0.4, 1.5),
    "laptop": (0.35, 0.25, 0.25),
    "microwave": (0.5, 0.38, 0.3),
    "mirror": (0.6, 0.05, 0.9),
    "monitor": (0.55, 0.2, 0.45),
    "nightstand": (0.5, 0.4, 0.55),
    "ottoman": (0.6, 0.6, 0.45),
    "oven": (0.6, 0.6, 0.9),
    "piano": (1.5, 0.6, 1.25),
    "picture": (0.8, 0.04, 0.6),
    "pillow": (0.5, 0.35, 0.15),
    "plant": (0.45, 0.45, 0.9),
    "printer": (0.5, 0.4, 0.3),
    "refrigerator": (0.75, 0.7, 1.8),
    "shelf": (0.9, 0.35, 1.8),
    "shoes": (0.3, 0.25, 0.12),
    "sink": (0.6, 0.45, 0.85),  # a vanity or pedestal sink: it stands on the floor
    "sofa": (2.0, 0.9, 0.85),
    "stool": (0.4, 0.4, 0.5),
    "suitcase": (0.7, 0.45, 0.25),
    "table": (1.4, 0.8, 0.75),
    "toilet": (0.7, 0.4, 0.8),
    "towel": (0.6, 0.1, 0.8),
    "trash can": (0.35, 0.35, 0.55),
    "tv": (1.2, 0.1, 0.7),
    "tv stand": (1.4, 0.45, 0.5),
    "vase": (0.15, 0.15, 0.3),
    "wardrobe": (1.2, 0.6, 2.0),
    "washing machine": (0.6, 0.6, 0.85),
    "window": (1.2, 0.1, 1.2),
}

# Names that denote the same category in different vocabularies (COCO, ScanNet, ours).
SYNONYMS: dict[str, str] = {
    "couch": "sofa",
    "tvmonitor": "tv",
    "tv monitor": "tv",
    "television": "tv",
    "diningtable": "dining table",
    "fridge": "refrigerator",
    "trashcan": "trash can",
    "garbage bin": "trash can",
    "bookcase": "bookshelf",
    "night stand": "nightstand",
    "washer": "washing machine",
    "potted plant": "plant",
    "pottedplant": "plant",
}

# Categories an observation of one may really be an observation of the other (a detector
# says "dining table" for a desk); used as association compatibility, both directions.
COMPATIBLE: dict[str, tuple[str, ...]] = {
    "table": ("dining table", "desk", "coffee table"),
    "dining table": ("table", "desk", "coffee table"),
    "desk": ("table", "dining table"),
    "coffee table": ("table", "dining table"),
    "sofa": ("couch", "armchair"),
    "couch": ("sofa",),
    "armchair": ("sofa", "chair"),
    "chair": ("armchair",),
    "shelf": ("bookshelf", "cabinet"),
    "bookshelf": ("shelf",),
    "cabinet": ("shelf", "dresser", "wardrobe", "nightstand"),
    "dresser": ("cabinet",),
    "wardrobe": ("cabinet",),
    "nightstand": ("cabinet",),
    "tv": ("monitor",),
    "monitor": ("tv",),
}


# Categories that usually stand on another object (a table, a shelf) or hang on a wall;
# every other category stands on the floor, so an unseen bottom extends to the floor.
OFF_FLOOR: frozenset[str] = frozenset({
    "book", "bottle", "bowl", "clock", "computer", "cup", "keyboard", "laptop", "microwave",
    "mirror", "monitor", "picture", "pillow", "printer", "towel", "tv", "vase", "window",
    "curtain",
})


# Categories with a round or square footprint: as deep as they are wide.
ROUND: frozenset[str] = frozenset({
    "bottle", "bowl", "cup", "lamp", "plant", "stool", "trash can", "vase",
})


# Categories that normally stand with their back to a wall (their back is never seen).
AGAINST_WALL: frozenset[str] = frozenset({
    "bed", "bookshelf", "cabinet", "desk", "dishwasher", "dresser", "fireplace",
    "nightstand", "piano", "refrigerator", "shelf", "sink", "sofa", "toilet", "tv stand",
    "wardrobe", "washing machine",
})


def against_wall(label: str) -> bool:
    """True when objects of this category normally stand against a wall."""
    return normalize_label(label) in AGAINST_WALL


def is_round(label: str) -> bool:
    """True when objects of this category have a round (or square) footprint."""
    return normalize_label(label) in ROUND


def stands_on_floor(label: str) -> bool:
    """True when objects of this category normally rest on the floor."""
    return normalize_label(label) not in OFF_FLOOR


def normalize_label(label: str) -> str:
    """Lower-case, trimmed, single-spaced, synonyms resolved ("Couch" -> "sofa")."""
    name = " ".join(str(label).strip().lower().replace("_", " ").split())
    return SYNONYMS.get(name, name)


def size_prior(label: str) -> np.ndarray | None:
    """Typical (length, width, height) [m] of a category, or None when unknown."""
    prior = SIZE_PRIORS_M.get(normalize_label(label))
    return None if prior is None else np.asarray(prior, dtype=np.float64)


def max_plausible_length(label: str) -> float | None:
    """Longest plausible horizontal side [m] of one object of a category (1.6 x the
    typical length), or None when the category is unknown. Two touching pieces
    of one category whose union stays within it are one object seen in parts."""
    prior = size_prior(label)
    return None if prior is None else float(1.6 * prior[0])
