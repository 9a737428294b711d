"""Text form of the LocalCogMap and its strict parser."""

import numpy as np
import pytest

from ssr_ros.core.cogmap import CogMapFormatError, LocalCogMap, parse_cogmap_text
from ssr_ros.core.cogmap_text import reconstruct_links, sanitize_label


def _map():
    cogmap = LocalCogMap()
    for i, (xy, label) in enumerate([((0.0, 0.0), "sofa"), ((3.6, 0.0), "dining table"),
                                     ((2.8, -0.8), "lamp"), ((-1.3, 2.2), "potted plant"),
                                     ((5.0, 1.0), "tv")], start=1):
        cogmap.add(i, xy, label)
    return cogmap


def test_text_has_one_line_per_link_in_the_documented_form():
    lines = _map().to_text(exact=False).splitlines()
    assert len(lines) == 5
    assert lines[0] == "[1] sofa @ root"
    assert lines[1].startswith("[2] dining table @ (")
    assert " | anchors [1] sofa (" in lines[1] and lines[1].endswith(" m")
    assert lines[2].startswith("[3] lamp @ (")
    assert "| anchors [2] dining table (" in lines[2] and ", [1] sofa (" in lines[2]


def test_text_is_deterministic_and_round_trips_exactly():
    text = _map().to_text()
    assert text == _map().to_text()
    again = LocalCogMap.from_text(text)
    assert again.to_text() == text
    positions = again.positions()
    for i, p in _map().positions().items():
        assert np.array_equal(positions[i], p) or np.allclose(positions[i], p, atol=1e-12)


def test_grid_only_text_round_trips_and_reconstructs_within_half_a_cell():
    cogmap = _map()
    text = cogmap.to_text(exact=False)
    result = parse_cogmap_text(text)
    assert result.ok
    assert LocalCogMap.from_text(text).to_text(exact=False) == text
    grid = reconstruct_links(result.links, "exact")
    truth = cogmap.positions()
    # A text without coordinates has its root at the origin (relative layout only).
    for link in result.links:
        err = np.hypot(*(grid[link.target] - (truth[link.target] - truth[1])))
        # Anchors placed from their cells too, so errors may add up along the chain.
        assert err < 3 * max(t.cell_size_m for t in result.links)


def test_labels_with_reserved_characters_are_sanitised_and_still_round_trip():
    assert sanitize_label("chair (red), [left] | x") == "chair red left x"
    cogmap = LocalCogMap()
    cogmap.add(1, [0, 0], "chair (red)")
    cogmap.add(2, [1, 0], "a|b")
    text = cogmap.to_text()
    assert "[1] chair red @ root" in text
    assert LocalCogMap.from_text(text).to_text() == text


def _errors(text):
    return [(e.line_no, e.message) for e in parse_cogmap_text(text).errors]


def test_parser_reports_each_bad_line_with_its_reason():
    text = "\n".join([
        "[1] sofa @ root",
        "[2] table @ (3,4) | anchors [1] sofa (2,4) | cell 0.40 m",
        "[3] lamp @ (3,12) | anchors [1] sofa (0,4), [2] table (9,4) | cell 0.40 m",
        "print('hello')",
        "[2] chair @ (1,1) | anchors [1] sofa (0,0), [2] table (1,0) | cell 0.1 m",
        "[4] tv @ (1,1) | anchors [1] sofa (0,0), [9] plant (1,0) | cell 0.1 m",
        "[5] tv @ (1,1) | anchors [1] sofa (0,0), [6] rug (1,0) | cell 0.1 m",
        "[6] rug @ (1,1) | anchors [1] sofa (0,0), [3] lamp (1,0) | cell 0.1 m",
        "[7] cup @ (1,1) | anchors [1] sofa (0,0), [2] table (1,0) | cell 0.1 m",
    ])
    errors = dict(_errors(text))
    assert "out of range" in errors[3]
    assert "garbage" in errors[4]
    assert "duplicate id [2]" in errors[5]
    assert "unknown id [9]" in errors[6]
    assert "not placed yet" in errors[7]
    assert "rejected on line 3" in errors[8]
    assert 9 not in errors
    result = parse_cogmap_text(text)
    assert [t.target for t in result.links] == [1, 2, 7]


@pytest.mark.parametrize("line, reason", [
    ("[2] table @ (3,4) | anchors [1] chair (2,4) | cell 0.40 m", "labelled"),
    ("[2] table @ (3,4) | anchors [1] sofa (2,4)", "needs"),
    ("[2] table @ (3,4) | anchors [1] sofa (2,4) | cell 0.00 m", "cell"),
    ("[2] table @ (3,4) | cell 0.40 m | anchors [1] sofa (2,4)", "out of order"),
    ("[2] table @ (3,4) | anchors [1] sofa (2,4) | cell 0.40 m | xy nan 1", "bad field"),
    ("[2] table @ (3,4) | anchors [1] sofa (2,4) | cell 0.40 m | xy 9.0 0.0", "outside cell"),
    ("[2] table @ (3,4) | anchors [1] sofa (2,4) | colour red", "unknown field"),
    ("[2] table @ root", "only the first line"),
])
def test_parser_rejects_malformed_second_lines(line, reason):
    errors = _errors("[1] sofa @ root\n" + line)
    assert len(errors) == 1 and errors[0][0] == 2
    assert reason in errors[0][1]


def test_parser_requires_root_first_and_two_distinct_anchors_later():
    assert "must be the root" in _errors("[2] t @ (1,1) | anchors [1] s (0,0) | cell 1.00 m")[0][1]
    text = ("[1] a @ root\n[2] b @ (9,4) | anchors [1] a (0,4) | cell 1.00 m\n"
            "[3] c @ (5,5) | anchors [1] a (0,4) | cell 1.00 m\n"
            "[4] d @ (5,5) | anchors [1] a (0,4), [2] b (9,6) | cell 1.00 m\n")
    errors = dict(_errors(text))
    assert "two distinct anchors" in errors[3]
    assert "row" in errors[4]


def test_from_text_raises_with_all_errors_and_never_evaluates():
    with pytest.raises(CogMapFormatError, match="line 2.*garbage"):
        LocalCogMap.from_text("[1] a @ root\n__import__('os').system('false')\n")
    with pytest.raises(TypeError):
        parse_cogmap_text(b"[1] a @ root")


def test_blank_lines_are_ignored():
    assert parse_cogmap_text("\n[1] a @ root\n\n[2] b @ (9,4) | anchors [1] a (0,4) | "
                             "cell 1.00 m\n").ok


def test_model_written_text_is_checked_against_the_metric_map():
    from ssr_ros.core.cogmap import check_text_against_objects
    from ssr_ros.core.types import ObjectState

    cogmap = _map()
    objects = [ObjectState(i, cogmap.label(i), [*cogmap.position_xy(i), 0.5], [1, 1, 1])
               for i in cogmap.ids()]
    objects[0].center_m[:2] += [10.0, -4.0]   # a text without xy is aligned on its root
    for o in objects[1:]:
        o.center_m[:2] += [10.0, -4.0]
    text = cogmap.to_text(exact=False).replace("[5] tv", "[5] television")
    text += "[9] ghost @ (1,1) | anchors [1] sofa (0,0), [2] dining table (1,0) | cell 0.10 m\n"
    objects.append(ObjectState(7, "rug", [0, 0, 0], [1, 1, 0.01]))
    check = check_text_against_objects(parse_cogmap_text(text), objects)
    assert check.label_mismatches == (5,)
    assert check.unknown_ids == (9,) and check.missing_ids == (7,)
    assert check.errors_m[1] == pytest.approx(0.0, abs=1e-9)
    assert 0.0 < check.max_error_m < 3 * max(t.cell_size_m for t in cogmap.triplets())
