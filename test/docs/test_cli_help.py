"""Command-line help of the tools: every option says what it is with its default (or that it
is required, or a flag), each ``--help`` ends with two examples, and the text is plain (no
reStructuredText markup, which argparse prints literally)."""

import argparse
import importlib
import os
import re
import subprocess
import sys

import pytest

# console script -> module with build_parser() and main()
TOOLS = {
    "ssr-sim": "ssr_ros.sim.cli",
    "ssr-play": "ssr_ros.ros.player",
    "ssr-ask": "ssr_ros.ros.ask",
    "ssr-eval": "ssr_ros.eval.run",
    "ssr-view": "ssr_ros.view.cli",
    "ssr-data": "ssr_ros.train.data_cli",
    "ssr-train": "ssr_ros.train.cli",
}
# ``literal``, :role:`x`, `link`_, .. directive::, and a trailing :: before a literal block
RST_MARKUP = re.compile(r"``|:[a-z]+:`|`[^`]*`_|^\s*\.\. \w+::|::\s*$", re.MULTILINE)
FLAG_ACTIONS = (argparse._StoreTrueAction, argparse._StoreFalseAction,
                argparse._StoreConstAction, argparse._CountAction)


def _parser(module: str) -> argparse.ArgumentParser:
    return importlib.import_module(module).build_parser()


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def _run_help(module: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="100")
    return subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_option_has_help_with_its_default_or_requirement(tool):
    missing = []
    for action in _options(_parser(TOOLS[tool])):
        name = action.option_strings[0] if action.option_strings else action.dest
        text = (action.help or "").lower()
        if not text or text == argparse.SUPPRESS:
            missing.append(f"{name}: no help")
        elif isinstance(action, FLAG_ACTIONS):
            if not text.startswith("flag") and "default" not in text:
                missing.append(f"{name}: a flag whose help does not say so or its default")
        elif "default" not in text and "required" not in text:
            missing.append(f"{name}: help names neither a default nor 'required'")
    assert not missing, f"{tool}: " + "; ".join(missing)


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_help_exits_0_ends_with_two_examples_and_has_no_rst(tool):
    out = _run_help(TOOLS[tool])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: {tool}"), out.stdout[:200]
    lines = out.stdout.rstrip().splitlines()
    assert lines[-3] == "examples:", lines[-4:]
    examples = [line.strip() for line in lines[-2:]]
    assert all(e.startswith(f"{tool}") for e in examples), examples
    assert examples[0] != examples[1]
    markup = RST_MARKUP.findall(out.stdout)
    assert not markup, f"{tool} --help has reStructuredText markup: {markup}"


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_the_examples_parse(tool):
    """The two examples are valid command lines of the tool's own parser."""
    parser = _parser(TOOLS[tool])
    for line in parser.epilog.splitlines()[1:]:
        words = re.findall(r'"[^"]*"|\S+', line.split("  #")[0])[1:]
        words = [w.strip('"') for w in words]
        if "--ros-args" in words:
            words = words[:words.index("--ros-args")]
        parser.parse_args(words)


def test_rst_pattern_catches_markup():
    """The markup check can fail: each form it is meant to catch is caught."""
    for text in ("see ``x``", "see :mod:`a.b`", "`link`_", ".. note::", "Usage::"):
        assert RST_MARKUP.search(text), text
    assert not RST_MARKUP.search("plain 'quoted' text [m] (default 3)")
