"""README.md stays short and its commands run as written.

Every fenced ``bash`` block of the README is preceded by a marker comment saying whether
this test runs it: ``<!-- readme-test: run (why) -->`` or ``<!-- readme-test: skip
(why) -->`` (a block that needs a ROS install, a camera or minutes of streaming), or
``stream``: the node-and-player block that ``test_readme_stream.py`` runs over DDS. The
``run`` blocks are cheap: each console script's ``--help`` and ``ssr-sim`` of a short
sequence. Their commands run one by one from the repository root in the environment of
this test run (``scripts/env.sh``), with ``/tmp/`` replaced by a fresh temporary folder.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_README_BYTES = 12 * 1024
BLOCK_RE = re.compile(r"(?:<!-- readme-test: (?P<mode>run|skip|stream)\b[^>]*-->\s*\n)?"
                      r"```(?P<lang>[a-z]*)\n(?P<body>.*?)```", re.S)


def _blocks() -> list[tuple[str | None, str, str]]:
    """(marker mode or None, language, body) of every fenced block, in order."""
    text = README.read_text(encoding="utf-8")
    return [(m["mode"], m["lang"], m["body"]) for m in BLOCK_RE.finditer(text)]


def _commands(body: str) -> list[str]:
    """The commands of a block: continuation lines joined, comments and blanks dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(shlex.join(words))
    return commands


RUN_COMMANDS = [c for mode, _, body in _blocks() if mode == "run" for c in _commands(body)]


def test_readme_is_at_most_12_kb():
    size = README.stat().st_size
    assert size <= MAX_README_BYTES, f"README.md is {size} bytes; the limit is 12 KiB"


def test_every_bash_block_says_whether_it_runs_here():
    unmarked = [body.splitlines()[0] for mode, lang, body in _blocks()
                if lang == "bash" and mode is None]
    assert not unmarked, f"bash blocks without a readme-test marker: {unmarked}"
    assert RUN_COMMANDS, "no block is marked to run"


def test_the_run_blocks_only_use_declared_console_scripts():
    setup = (ROOT / "setup.py").read_text()
    declared = set(re.findall(r'"([\w-]+)\s*=\s*ssr_ros\.', setup))
    used = {shlex.split(c)[0] for c in RUN_COMMANDS}
    assert used <= declared, f"not console scripts of setup.py: {used - declared}"


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_readme_command_runs_as_written(command, tmp_path):
    words = [w.replace("/tmp/", f"{tmp_path}/") for w in shlex.split(command)]
    if shutil.which(words[0]) is None:
        pytest.fail(f"{words[0]} is not on PATH: run the tests after 'make setup' in a "
                    "shell with scripts/env.sh")
    out = subprocess.run(words, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    if "--help" in words:
        assert "usage:" in out.stdout
    else:
        assert any(tmp_path.iterdir()), "the command wrote nothing"


def test_local_links_point_at_files():
    text = README.read_text(encoding="utf-8")
    targets = {t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text)
               if "://" not in t}
    missing = sorted(t for t in targets if t and not (ROOT / t).exists())
    assert not missing, f"README links to missing files: {missing}"


def test_the_quick_start_params_file_and_the_parameter_table_name_real_parameters():
    defaults = yaml.safe_load((ROOT / "config" / "ssr.yaml").read_text())
    declared = _flatten(defaults["/**"]["ros__parameters"])
    camera = yaml.safe_load((ROOT / "config" / "camera.yaml").read_text())
    assert set(_flatten(camera["/**"]["ros__parameters"])) <= set(declared)
    table = README.read_text(encoding="utf-8").split("### Parameters", 1)[1]
    table = table.split("###", 1)[0]
    named = {n for row in table.splitlines() if row.startswith("| `")
             for n in re.findall(r"`([\w.]+)`", row.split("|")[1])}
    assert named and named <= set(declared), named - set(declared)


def _flatten(params: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
