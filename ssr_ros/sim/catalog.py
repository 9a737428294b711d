"""The simulator's catalogue of indoor object categories and room themes.

Sizes are the object's box extents [m]: ``x`` along the object's heading (its width as a
person facing it sees it), ``y`` its depth (the object's *front* faces local +y, its back
local -y: wall-standing objects put their back to the wall), ``z`` its height. Ranges are
typical retail dimensions of the furniture and items named.

Placement rules:
- ``wall``: on the floor, back against a wall, facing into the room;
- ``free``: on the floor anywhere (tables, armchairs, plants);
- ``table_side``: on the floor beside a table or desk, facing it (chairs, stools);
- ``surface``: standing on top of a supporting object whose category is in ``supports``.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnknownCategoryError(ValueError):
    """A category name that the catalogue does not know."""


@dataclass(frozen=True)
class Category:
    """One object category: size ranges [m], placement rule, shape and colour.

    ``albedo`` is the diffuse reflectance (r, g, b) in [0, 1]; ``shape`` names the mesh
    builder in :mod:`ssr_ros.sim.shapes`; ``is_surface`` marks objects whose top carries
    small objects; ``square`` forces equal x and y (round or square objects).
    """

    name: str
    size_x_m: tuple[float, float]
    size_y_m: tuple[float, float]
    size_z_m: tuple[float, float]
    placement: str
    shape: str
    albedo: tuple[float, float, float]
    is_surface: bool = False
    supports: tuple[str, ...] = ()
    square: bool = False


_TABLES = ("dining table", "coffee table", "desk")
_SMALL_SUPPORTS = ("dining table", "coffee table", "desk", "nightstand", "cabinet",
                   "tv stand")

CATEGORIES: tuple[Category, ...] = (
    Category("sofa", (1.6, 2.4), (0.8, 1.0), (0.75, 0.95), "wall", "sofa", (0.30, 0.38, 0.55)),
    Category("armchair", (0.7, 0.95), (0.7, 0.9), (0.75, 1.0), "free", "armchair",
             (0.55, 0.30, 0.25)),
    Category("chair", (0.42, 0.52), (0.45, 0.55), (0.8, 1.0), "table_side", "chair",
             (0.50, 0.35, 0.20)),
    Category("stool", (0.35, 0.45), (0.35, 0.45), (0.45, 0.75), "table_side", "stool",
             (0.35, 0.35, 0.38), square=True),
    Category("dining table", (1.2, 2.0), (0.75, 1.0), (0.72, 0.78), "free", "table",
             (0.62, 0.45, 0.28), is_surface=True),
    Category("coffee table", (0.8, 1.3), (0.45, 0.7), (0.35, 0.5), "free", "table",
             (0.40, 0.28, 0.18), is_surface=True),
    Category("desk", (1.0, 1.6), (0.55, 0.8), (0.72, 0.78), "wall", "desk",
             (0.80, 0.78, 0.72), is_surface=True),
    Category("bed", (1.4, 1.9), (1.95, 2.15), (0.9, 1.2), "wall", "bed", (0.45, 0.55, 0.65)),
    Category("nightstand", (0.4, 0.55), (0.35, 0.45), (0.45, 0.6), "wall", "cabinet",
             (0.55, 0.40, 0.25), is_surface=True),
    Category("wardrobe", (0.9, 2.0), (0.55, 0.65), (1.8, 2.2), "wall", "cabinet",
             (0.70, 0.62, 0.50)),
    Category("bookshelf", (0.6, 1.2), (0.28, 0.4), (1.2, 2.0), "wall", "shelf",
             (0.48, 0.33, 0.20)),
    Category("tv stand", (1.0, 1.8), (0.38, 0.5), (0.4, 0.6), "wall", "cabinet",
             (0.20, 0.20, 0.22), is_surface=True),
    Category("tv", (0.9, 1.45), (0.18, 0.25), (0.55, 0.9), "surface", "tv",
             (0.08, 0.08, 0.09), supports=("tv stand",)),
    Category("lamp", (0.3, 0.45), (0.3, 0.45), (1.4, 1.8), "free", "lamp",
             (0.90, 0.85, 0.70), square=True),
    Category("plant", (0.3, 0.6), (0.3, 0.6), (0.5, 1.4), "free", "plant",
             (0.20, 0.50, 0.20), square=True),
    Category("refrigerator", (0.6, 0.9), (0.6, 0.75), (1.6, 1.9), "wall", "fridge",
             (0.88, 0.89, 0.90)),
    Category("sink", (0.5, 0.8), (0.45, 0.6), (0.85, 1.0), "wall", "sink",
             (0.85, 0.87, 0.90)),
    Category("toilet", (0.36, 0.42), (0.6, 0.75), (0.7, 0.8), "wall", "toilet",
             (0.95, 0.95, 0.95)),
    Category("cabinet", (0.8, 1.6), (0.45, 0.6), (0.85, 0.95), "wall", "cabinet",
             (0.60, 0.65, 0.60), is_surface=True),
    Category("washing machine", (0.58, 0.62), (0.55, 0.65), (0.82, 0.88), "wall", "cabinet",
             (0.92, 0.92, 0.92)),
    Category("trash can", (0.25, 0.4), (0.25, 0.4), (0.3, 0.65), "free", "cylinder",
             (0.25, 0.30, 0.28), square=True),
    Category("backpack", (0.28, 0.35), (0.18, 0.25), (0.4, 0.5), "free", "box",
             (0.70, 0.25, 0.15)),
    Category("monitor", (0.45, 0.7), (0.15, 0.22), (0.35, 0.55), "surface", "monitor",
             (0.10, 0.10, 0.12), supports=("desk",)),
    Category("laptop", (0.3, 0.38), (0.22, 0.27), (0.2, 0.25), "surface", "laptop",
             (0.65, 0.66, 0.68), supports=_TABLES),
    Category("microwave", (0.45, 0.55), (0.35, 0.42), (0.26, 0.32), "surface", "box",
             (0.75, 0.75, 0.78), supports=("cabinet",)),
    Category("cup", (0.07, 0.1), (0.07, 0.1), (0.08, 0.12), "surface", "cylinder",
             (0.85, 0.20, 0.20), supports=_SMALL_SUPPORTS, square=True),
    Category("bottle", (0.06, 0.09), (0.06, 0.09), (0.2, 0.32), "surface", "bottle",
             (0.20, 0.55, 0.40), supports=_SMALL_SUPPORTS, square=True),
    Category("vase", (0.1, 0.2), (0.1, 0.2), (0.2, 0.4), "surface", "cylinder",
             (0.30, 0.45, 0.75), supports=_SMALL_SUPPORTS, square=True),
)

CATEGORY_BY_NAME: dict[str, Category] = {c.name: c for c in CATEGORIES}
CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)

# Room themes: (category, min count, max count). Objects are requested in this order,
# so supports come before what stands on them and tables before their chairs.
THEMES: dict[str, tuple[tuple[str, int, int], ...]] = {
    "living": (("sofa", 1, 1), ("tv stand", 1, 1), ("bookshelf", 0, 2), ("armchair", 0, 2),
               ("coffee table", 1, 1), ("tv", 1, 1), ("lamp", 0, 2), ("plant", 1, 3),
               ("trash can", 0, 1), ("cup", 0, 2), ("bottle", 0, 2), ("vase", 0, 1),
               ("laptop", 0, 1)),
    "bedroom": (("bed", 1, 1), ("wardrobe", 1, 1), ("nightstand", 1, 2), ("desk", 0, 1),
                ("chair", 0, 1), ("lamp", 0, 1), ("plant", 0, 2), ("backpack", 0, 1),
                ("laptop", 0, 1), ("cup", 0, 2), ("bottle", 0, 1), ("vase", 0, 1)),
    "office": (("desk", 1, 3), ("bookshelf", 1, 2), ("cabinet", 0, 1), ("chair", 1, 3),
               ("monitor", 1, 3), ("laptop", 0, 2), ("trash can", 1, 2), ("plant", 0, 2),
               ("backpack", 0, 1), ("cup", 1, 3), ("bottle", 0, 2)),
    "kitchen": (("refrigerator", 1, 1), ("cabinet", 1, 2), ("sink", 1, 1),
                ("dining table", 1, 1), ("chair", 2, 6), ("stool", 0, 2),
                ("microwave", 0, 1), ("trash can", 1, 1), ("plant", 0, 1),
                ("cup", 1, 3), ("bottle", 1, 3), ("vase", 0, 1)),
    "bathroom": (("toilet", 1, 1), ("sink", 1, 1), ("washing machine", 0, 1),
                 ("cabinet", 0, 1), ("trash can", 1, 1), ("plant", 0, 1),
                 ("bottle", 1, 2), ("cup", 0, 1)),
}

# Categories added when a scene still has fewer objects than the minimum.
FILLERS: tuple[str, ...] = ("plant", "trash can", "armchair", "lamp", "backpack", "cup",
                            "bottle", "stool", "bookshelf", "cabinet")


def category(name: str) -> Category:
    """The catalogue entry of ``name``; raises :class:`UnknownCategoryError`."""
    try:
        return CATEGORY_BY_NAME[name]
    except KeyError:
        raise UnknownCategoryError(
            f"unknown category {name!r}; known: {', '.join(CATEGORY_NAMES)}") from None


def validate_categories(names: "list[str] | tuple[str, ...]") -> tuple[str, ...]:
    """Check a user-given category set; returns it de-duplicated in catalogue order."""
    unknown = [n for n in names if n not in CATEGORY_BY_NAME]
    if unknown:
        raise UnknownCategoryError(
            f"unknown categor{'y' if len(unknown) == 1 else 'ies'} "
            f"{', '.join(repr(n) for n in unknown)}; known: {', '.join(CATEGORY_NAMES)}")
    if not names:
        raise UnknownCategoryError("the category set is empty")
    wanted = set(names)
    return tuple(n for n in CATEGORY_NAMES if n in wanted)
