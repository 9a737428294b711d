#!/usr/bin/env python3
"""Rewrite build-machine paths baked into the ROS 2 wheels' exported CMake files.

The message wheels' ``*Export.cmake`` files name the Python include directory and
numpy's include directory of the machine that built them
(``/opt/python/cpXY-cpXY/...``). CMake then fails to configure any package that
generates interfaces against them. This rewrites those two paths to the ones of the
running interpreter. It is idempotent: a second run finds nothing to change.

Usage: python scripts/fix_cmake_paths.py <prefix>   (the venv prefix; exit 0 on success)
"""

from __future__ import annotations

import pathlib
import re
import sys
import sysconfig

import numpy


def replacements() -> list[tuple[re.Pattern[str], str]]:
    py_include = sysconfig.get_paths()["include"]
    np_include = numpy.get_include()
    build_root = r"/opt/python/cp3\d+-cp3\d+"
    return [
        (re.compile(build_root + r"/include/python3\.\d+"), py_include),
        (
            re.compile(build_root + r"/lib/python3\.\d+/site-packages/numpy/(?:_)?core/include"),
            np_include,
        ),
    ]


def fix_tree(prefix: pathlib.Path) -> int:
    """Rewrite the paths in every CMake file under ``prefix/share``; return files changed."""
    rules = replacements()
    changed = 0
    for path in (prefix / "share").rglob("*.cmake"):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        new = text
        for pattern, repl in rules:
            new = pattern.sub(repl.replace("\\", "/"), new)
        if new != text:
            path.write_text(new, encoding="utf-8", errors="surrogateescape")
            changed += 1
    return changed


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    prefix = pathlib.Path(sys.argv[1])
    if not (prefix / "share").is_dir():
        print(f"fix_cmake_paths: {prefix}/share does not exist", file=sys.stderr)
        return 1
    n = fix_tree(prefix)
    print(f"fix_cmake_paths: {n} CMake file(s) rewritten under {prefix}/share")
    return 0


if __name__ == "__main__":
    sys.exit(main())
