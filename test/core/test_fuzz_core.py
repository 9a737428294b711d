"""Fuzzing the core's input layers with hypothesis: whatever comes in, only the documented
exceptions come out, and the query engine always answers (never raises) with a
well-formed answer; so does the benchmark adapter on top of it (``ssr_ros.eval.adapter``,
fuzzed here with the same strategies), whose multiple-choice answers are always one of
their options.

Example counts are bounded so the file runs in seconds and keeps no example database;
``SSR_FUZZ_SCALE=20`` multiplies every count for a longer campaign.
"""

import json
import math
import os
import string
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ssr_ros.core.cogmap import CogMapFormatError, LocalCogMap
from ssr_ros.core.cogmap_text import ParseResult, parse_cogmap_text
from ssr_ros.core.freetext import QuestionNotUnderstoodError, read_question
from ssr_ros.core.names import NameMatch, NameMatcher, normalize_name, singular
from ssr_ros.core.queries import QueryEngine
from ssr_ros.core.query_types import (DIRECTION_MODES, MAX_CANDIDATES, MAX_NAME_CHARS,
                                      MAX_QUESTION_CHARS, ErrorCode, QueryAnswer, QueryKind,
                                      QueryRequest, QueryRequestError, check_request)
from ssr_ros.core.relations import LEFT_RIGHT, LEFT_RIGHT_BACK, QUADRANT
from ssr_ros.core.store import (MapFileError, MapPathError, decode_map, encode_map, load_map,
                                resolve_map_path)
from ssr_ros.core.types import ObjectState, Room, RobotPose2D
from ssr_ros.eval.adapter import answer_request, most_observed
from ssr_ros.eval.vsi_reader import read_vsi_question


SCALE = float(os.environ.get("SSR_FUZZ_SCALE", "1"))


def fuzz(n: int):
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])


UNITS = {"", "m", "cm", "m^2", "deg", "count"}
LABELS = ["chair", "sofa", "coffee table", "dining table", "tv", "lamp", "refrigerator",
          "potted plant", "Küchen-Stuhl", "", "  ", "a|b [c]", "chair\n"]
SPOKEN = ["chair", "chairs", "the red chair", "couch", "table", "television", "fridge",
          "plant", "lamps", "küchen stuhl", "it", "me", "!!!", "a|b [c]"]

# Text of every kind: any code point (control characters included), long runs of one
# piece, and strings just over each documented limit.
any_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.text(alphabet=string.printable, max_size=80),
    st.tuples(st.text(min_size=1, max_size=6), st.integers(1, 700)).map(lambda t: t[0] * t[1]),
    st.sampled_from([MAX_NAME_CHARS + 1, MAX_QUESTION_CHARS + 1, 100_000]).map(
        lambda n: "x" * n),
)
name_text = st.one_of(st.sampled_from(SPOKEN), st.sampled_from(LABELS), any_text)
junk = st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=8),
                 st.booleans(), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def or_junk(strategy):
    return st.one_of(strategy, strategy, strategy, junk)


kinds = st.one_of(st.sampled_from(list(QueryKind)), st.sampled_from(list(QueryKind)),
                  st.integers(-300, 300), st.integers(min_value=2 ** 63),
                  st.floats(), st.none(), st.text(max_size=3), st.booleans(),
                  st.just(np.uint8(3)), st.just(np.float64(2.0)))

VSI_TEMPLATES = [
    "How many {a}(s) are in this room?",
    "Measuring from the closest point of each object, what is the direct distance between "
    "the {a} and the {b} (in meters)?",
    "What is the length of the longest dimension (length, width, or height) of the {a}, "
    "measured in centimeters?",
    "What is the size of this room (in square meters)? If multiple rooms are shown, "
    "estimate the size of the combined space.",
    "Measuring from the closest point of each object, which of these objects ({a}, {b}, "
    "{c}, {d}) is the closest to the {e}?",
    "If I am standing by the {a} and facing the {b}, is the {c} to my left or right?",
    "If I am standing by the {a} and facing the {b}, is the {c} to my front-left, "
    "front-right, back-left, or back-right?",
    "You are a robot beginning at the {a} and facing the {b}. You want to navigate to the "
    "{c}. You will perform the following actions (Note: for each [please fill in], choose "
    "either 'turn back,' 'turn left,' or 'turn right.'): 1. [please fill in] 2. Go forward "
    "until the {d} 3. [please fill in] 4. Go forward until the {c}. You have reached the "
    "final destination.",
    "What will be the first-time appearance order of the following categories in the "
    "video: {a}, {b}, {c}, {d}?",
    "Where is the {a}?", "Which way should I turn to face the {a}?",
    "How far is the {a} from the {b}?", "how big is the {a} in cm",
]
questions = st.one_of(
    any_text,
    st.builds(lambda t, names: t.format(**dict(zip("abcde", names))),
              st.sampled_from(VSI_TEMPLATES), st.lists(name_text, min_size=5, max_size=5)),
)
options = st.one_of(
    st.lists(st.sampled_from(["left", "right", "back", "behind", "front-left",
                              "back-right", "Turn Left, Turn Right", "chair, sofa, lamp",
                              "chair", "sofa", ""]), max_size=5),
    st.lists(any_text, max_size=MAX_CANDIDATES + 2),
)

requests = st.builds(
    QueryRequest,
    kind=kinds,
    target=or_junk(name_text), reference=or_junk(name_text), facing=or_junk(name_text),
    candidates=or_junk(st.one_of(st.lists(name_text, max_size=MAX_CANDIDATES + 3),
                                 st.tuples(name_text, name_text))),
    question=or_junk(questions),
    use_centers=or_junk(st.booleans()),
    direction_mode=or_junk(st.one_of(st.sampled_from(DIRECTION_MODES), any_text)),
    length_unit=or_junk(st.sampled_from(["m", "cm", "M", "km", ""])),
)

# Requests that pass the limits, so the engine gets past validation into the answers.
spoken = st.one_of(st.sampled_from(SPOKEN), st.sampled_from(LABELS), st.text(max_size=12))
typed_options = st.lists(st.sampled_from(["left", "right", "back", "behind", "front-left",
                                          "back-right", "Turn Left, Turn Right",
                                          "Turn Back, Turn Left", "chair, sofa, lamp", "chair",
                                          "sofa", "couch", "2", "3.5 m", ""]), max_size=5)
typed_requests = st.builds(
    QueryRequest,
    kind=st.sampled_from(list(QueryKind)),
    target=spoken, reference=spoken, facing=spoken,
    candidates=st.lists(spoken, max_size=5),
    question=questions.filter(lambda q: len(q) <= MAX_QUESTION_CHARS),
    use_centers=st.booleans(),
    direction_mode=st.sampled_from(DIRECTION_MODES),
    length_unit=st.sampled_from(["m", "cm"]),
)

# Small maps on a coarse lattice: coincident centres, touching and zero-size boxes and
# repeated labels are common.
quarter = st.integers(-16, 16).map(lambda v: v / 4.0)
extent = st.integers(0, 8).map(lambda v: v / 4.0)


@st.composite
def object_maps(draw):
    n = draw(st.integers(0, 7))
    return [ObjectState(i, draw(st.sampled_from(LABELS)),
                        [draw(quarter), draw(quarter), draw(extent)],
                        [draw(extent), draw(extent), draw(extent)],
                        yaw_rad=draw(st.floats(-math.pi, math.pi)),
                        observation_count=draw(st.integers(1, 50)),
                        first_seen_order=draw(st.integers(0, 5)))
            for i in range(1, n + 1)]


@st.composite
def engines(draw):
    objects = draw(object_maps())
    cogmap = None
    if draw(st.booleans()):
        cogmap = LocalCogMap()
        cogmap.sync(objects)
    pose = draw(st.one_of(st.none(), st.builds(RobotPose2D, quarter, quarter,
                                               st.floats(-math.pi, math.pi))))
    room = draw(st.one_of(st.none(), st.builds(
        Room, st.just(np.zeros((0, 2))), st.floats(0.0, 200.0))))
    return QueryEngine(objects, cogmap=cogmap, robot_pose=pose, room=room,
                       vocabulary=draw(st.sampled_from([(), LABELS[:8]])),
                       choose_instance=draw(st.sampled_from([None, most_observed])))


def assert_well_formed(answer, engine: QueryEngine, opts=None) -> None:
    assert isinstance(answer, QueryAnswer)
    assert isinstance(answer.error_code, ErrorCode)
    assert answer.error_code != ErrorCode.INTERNAL, answer.message
    assert answer.success == (answer.error_code == ErrorCode.NONE)
    assert isinstance(answer.message, str) and answer.message.strip()
    assert isinstance(answer.value, float) and answer.unit in UNITS
    if answer.unit:
        assert math.isfinite(answer.value), (answer.value, answer.unit)
    else:
        assert math.isnan(answer.value)
    if not answer.success:
        assert answer.unit == "" and answer.choice == ""
    assert isinstance(answer.choice, str)
    known = {o.id for o in engine.objects}
    assert set(answer.object_ids) <= known
    if answer.success and isinstance(opts, list) and opts:
        assert answer.choice in opts


@fuzz(120)
@given(engines(), requests)
def test_engine_answers_any_request_on_any_small_map(engine, request):
    answer = engine.answer(request)
    event(answer.error_code.name)
    assert_well_formed(answer, engine)
    try:
        check_request(request)
    except QueryRequestError:
        assert answer.error_code == ErrorCode.INVALID_REQUEST
        assert answer.object_ids == []


@fuzz(250)
@given(engines(), typed_requests)
def test_engine_answers_well_typed_requests_on_any_small_map(engine, request):
    answer = engine.answer(request)
    event(answer.error_code.name)
    assert_well_formed(answer, engine)
    if answer.error_code == ErrorCode.AMBIGUOUS_NAME:
        assert len(answer.object_ids) >= 2 and "did you mean" in answer.message
    if answer.error_code == ErrorCode.EMPTY_MAP and request.kind != QueryKind.ROOM_SIZE:
        assert not engine.objects or request.kind in (QueryKind.AUTO, QueryKind.FREE)


@fuzz(150)
@given(requests, st.booleans())
def test_engine_on_the_empty_map_answers_with_an_error_code(request, with_room):
    room = Room(np.zeros((0, 2)), 12.5) if with_room else None
    engine = QueryEngine([], room=room)
    answer = engine.answer(request)
    assert_well_formed(answer, engine)
    if not answer.success:
        assert answer.error_code in (ErrorCode.INVALID_REQUEST, ErrorCode.NOT_UNDERSTOOD,
                                     ErrorCode.EMPTY_MAP)
    else:
        assert answer.unit == "m^2" and answer.value == 12.5        # only the room is known


@fuzz(60)
@given(engines(), junk)
def test_engine_answers_things_that_are_not_requests(engine, thing):
    answer = engine.answer(thing)
    assert_well_formed(answer, engine)
    assert answer.error_code == ErrorCode.INVALID_REQUEST


@fuzz(150)
@given(engines(), requests, or_junk(options))
def test_adapter_answers_any_request_with_any_options(engine, request, opts):
    answer = answer_request(engine, request, opts)
    event(answer.error_code.name)
    assert_well_formed(answer, engine, opts)


@fuzz(250)
@given(engines(), typed_requests, typed_options)
def test_adapter_answers_with_one_of_the_options_or_a_named_error(engine, request, opts):
    answer = answer_request(engine, request, opts)
    event(answer.error_code.name)
    assert_well_formed(answer, engine, opts)
    if any(not o.strip() for o in opts):
        assert answer.error_code == ErrorCode.INVALID_REQUEST and "empty" in answer.message


@fuzz(300)
@given(questions, st.sampled_from([read_question, read_vsi_question]))
def test_reader_returns_a_request_or_says_it_did_not_understand(question, read):
    try:
        request = read(question)
    except QuestionNotUnderstoodError as err:
        assert str(err)
        return
    assert isinstance(request, QueryRequest) and isinstance(request.kind, QueryKind)
    assert len(question) <= MAX_QUESTION_CHARS
    for name in (request.target, request.reference, request.facing, *request.candidates):
        assert isinstance(name, str)


@fuzz(150)
@given(st.lists(st.sampled_from(["sofa", "coffee table", "tv", "bed", "trash can",
                                 "tv monitor", "chair 2", "kitchen-cabinet", "o'neil lamp"]),
                min_size=5, max_size=5))
def test_reader_reads_the_benchmark_phrasings_with_any_plain_names(names):
    a, b, c, d, e = names
    cases = [(VSI_TEMPLATES[0], QueryKind.COUNT, a), (VSI_TEMPLATES[1], QueryKind.DISTANCE, a),
             (VSI_TEMPLATES[2], QueryKind.SIZE, a), (VSI_TEMPLATES[5],
                                                     QueryKind.RELATIVE_DIRECTION, c),
             (VSI_TEMPLATES[9], QueryKind.LOCATE, a), (VSI_TEMPLATES[10], QueryKind.TURN, a)]
    for template, kind, target in cases:
        request = read_vsi_question(template.format(a=a, b=b, c=c, d=d, e=e))
        assert request.kind == kind
        # "{a}(s)" reads as the plural, which the name matcher singularises.
        assert request.target == (target + "s" if kind == QueryKind.COUNT else target)
    nearest = read_vsi_question(VSI_TEMPLATES[4].format(a=a, b=b, c=c, d=d, e=e))
    assert nearest.kind == QueryKind.NEAREST and nearest.candidates == [a, b, c, d]
    assert nearest.reference == e


def test_reader_caps_the_question_length():
    assert read_question("where is the " + "very " * 200 + "lamp").kind == QueryKind.LOCATE
    with pytest.raises(QuestionNotUnderstoodError, match="limit is 1024"):
        read_question("where is the " + "very " * 300 + "lamp")


# ---- cogmap text and dict ----------------------------------------------------------------
numbers_text = st.one_of(st.integers(-12, 12).map(str), st.sampled_from(
    ["1e308", "-1e308", "1e-320", "9" * 30, "1" * 5000, "0", "-0", "nan", "inf", "0.00"]))
cell_text = st.builds(lambda c, r: f"({c},{r})", numbers_text, numbers_text)
ref_text = st.one_of(st.integers(0, 6).map(lambda i: f"[{i}]"),
                     st.just("[" + "7" * 5000 + "]"), st.just("[99999999999999999999]"))
label_text = st.one_of(st.sampled_from(["sofa", "coffee table", "Küche", "a b"]),
                       st.text(alphabet=string.ascii_letters + " |[]()@,", min_size=1,
                               max_size=6))
line_text = st.one_of(
    st.builds(lambda r, lab, xy: f"{r} {lab} @ root{xy}", ref_text, label_text,
              st.one_of(st.just(""), st.builds(lambda x, y: f" | xy {x} {y}", numbers_text,
                                               numbers_text))),
    st.builds(lambda r, lab, cell, ra, ca, rb, cb, size, xy, axis:
              f"{r} {lab} @ {cell} | anchors {ra} {lab} {ca}{rb}{cb}{axis} | cell {size} m"
              f"{xy}",
              ref_text, label_text, cell_text, ref_text, cell_text,
              st.one_of(st.just(""), ref_text.map(lambda r: f", {r} sofa ")),
              st.one_of(st.just(""), cell_text),
              numbers_text, st.one_of(st.just(""), st.builds(
                  lambda x, y: f" | xy {x} {y}", numbers_text, numbers_text)),
              st.sampled_from(["", " | axis map", " | axis other"])),
    any_text,
)


def _check_parse(text: str) -> None:
    result = parse_cogmap_text(text)
    assert isinstance(result, ParseResult)
    for issue in result.errors:
        assert 1 <= issue.line_no and issue.message
    for link in result.links:
        assert link.cell_size_m == 0.0 or math.isfinite(link.cell_size_m)
        assert all(math.isfinite(v) for v in link.local_xy_m)
    try:
        cogmap = LocalCogMap.from_text(text)
    except CogMapFormatError:
        return
    assert result.ok
    for xy in cogmap.positions().values():
        assert np.all(np.isfinite(xy))
    assert LocalCogMap.from_text(cogmap.to_text()).to_text() == cogmap.to_text()


@fuzz(200)
@given(st.lists(line_text, max_size=6))
def test_cogmap_text_parser_reports_errors_for_any_line_mix(lines):
    _check_parse("\n".join(lines))


@st.composite
def mutated_cogmap_texts(draw):
    cogmap = LocalCogMap()
    for i in range(1, draw(st.integers(1, 6)) + 1):
        cogmap.add(i, (draw(quarter), draw(quarter)), draw(st.sampled_from(LABELS[:8])))
    text = cogmap.to_text(exact=draw(st.booleans()))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        piece = draw(st.one_of(st.sampled_from(list("0123456789-.|[](),@ \n")),
                               st.text(max_size=3)))
        cut = draw(st.integers(0, 3))
        text = text[:pos] + piece + text[pos + cut:]
    return text


@fuzz(200)
@given(mutated_cogmap_texts())
def test_cogmap_text_parser_survives_edits_of_valid_text(text):
    _check_parse(text)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
                                                                 allow_infinity=False),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)


@st.composite
def mutated_cogmap_dicts(draw):
    cogmap = LocalCogMap()
    for i in range(1, draw(st.integers(1, 5)) + 1):
        cogmap.add(i, (draw(quarter), draw(quarter)), "o")
    data = json.loads(json.dumps(cogmap.to_dict()))
    for _ in range(draw(st.integers(1, 3))):
        parent, key, node = None, None, data
        for step in draw(st.lists(st.integers(0, 10), min_size=1, max_size=4)):
            if isinstance(node, (dict, list)) and node:
                k = list(node)[step % len(node)] if isinstance(node, dict) \
                    else step % len(node)
                parent, key, node = node, k, node[k]
        if parent is None:
            continue
        replacement = draw(st.one_of(json_values, st.sampled_from(
            [1e308, -1e308, 10 ** 30, -1, 0, 0.5, float("nan"), float("inf"), "x", [], {}])))
        if isinstance(parent, dict) and draw(st.booleans()):
            parent.pop(key)                        # a missing or renamed field
            key = draw(st.text(max_size=4))
        parent[key] = replacement
    return data


@fuzz(200)
@given(st.one_of(mutated_cogmap_dicts(), json_values))
def test_cogmap_from_dict_accepts_or_raises_format_error(data):
    try:
        cogmap = LocalCogMap.from_dict(data)
    except CogMapFormatError:
        return
    # What was accepted saves again (no NaN or inf slipped in).
    again = LocalCogMap.from_dict(decode_map(encode_map({"c": cogmap.to_dict()}))["c"])
    assert again.to_text() == cogmap.to_text()


# ---- map files ---------------------------------------------------------------------------
@fuzz(300)
@given(st.one_of(st.binary(max_size=200),
                 json_values.map(lambda v: json.dumps(v).encode()),
                 st.builds(lambda marker, version, payload: json.dumps(
                     {"format": marker, "schema_version": version, "payload": payload}
                 ).encode(), st.sampled_from(["ssr_ros.map", "other", None, 1]),
                     st.one_of(st.integers(-2, 3), st.floats(), st.text(max_size=2),
                               st.booleans()), json_values),
                 st.sampled_from([b"[" * 5000, b"{\"a\":" * 3000, b"1e999", b"-Infinity",
                                  b"\xef\xbb\xbf{}", b"\xed\xa0\x80"])))
def test_map_decoder_raises_only_map_file_errors(data):
    try:
        payload = decode_map(data, "fuzz.json")
    except MapFileError as err:
        assert err.reason and err.path == "fuzz.json"
        return
    assert isinstance(payload, dict)
    assert decode_map(encode_map(payload)) == payload


@fuzz(60)
@given(st.one_of(st.binary(max_size=64), json_values.map(lambda v: json.dumps(v).encode())))
def test_map_loader_raises_only_map_file_errors_for_any_file(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.json"
        path.write_bytes(data)
        try:
            assert isinstance(load_map(path), dict)
        except MapFileError as err:
            assert err.reason and err.path == str(path)


# Names assembled from the pieces path tricks are made of; "out" is a symbolic link from
# inside the map directory to a folder outside it.
path_piece = st.sampled_from(["..", ".", "/", "\\", "~", "\x00", "\n", "out", "maps", "a",
                              "m.json", ".tmp", "ü", "x" * 100, " "])
map_names = st.one_of(st.lists(path_piece, max_size=8).map("".join), any_text, junk)


@fuzz(100)
@given(map_names)
def test_resolved_map_paths_never_leave_the_map_directory(name):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "maps"
        (root / "maps").mkdir(parents=True)
        (Path(folder) / "outside").mkdir()
        (root / "out").symlink_to(Path(folder) / "outside")
        try:
            resolved = resolve_map_path(name, root)
        except MapPathError as err:
            assert str(err)
            return
        assert resolved.is_relative_to(root.resolve()) and resolved != root.resolve()
        assert not any(part.startswith(".") for part in
                       resolved.relative_to(root.resolve()).parts)


@fuzz(60)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_every_storable_payload_round_trips(payload):
    assert decode_map(encode_map(payload)) == payload


# ---- names -------------------------------------------------------------------------------
def _embedder(texts):
    # Deterministic, degenerate on purpose: empty texts give zero vectors.
    return np.array([[len(t), t.count("a"), t.count(" ")] for t in texts], dtype=float)


@fuzz(200)
@given(st.lists(st.one_of(st.sampled_from(LABELS), any_text), max_size=6), name_text,
       st.booleans())
@example(["chair"], "'the chair", False)          # found by this test: was "the chair"
@example(["chair"], " (s)(s) x's''s a ", False)   # a possessive left after a quote
def test_name_matching_returns_known_labels_or_nothing(labels, name, with_embedder):
    matcher = NameMatcher(labels, _embedder if with_embedder else None, threshold=0.9)
    match = matcher.match(name)
    assert match is None or isinstance(match, NameMatch)
    if match is not None:
        assert match.labels and set(match.labels) <= set(matcher.labels)
        assert match.describe()
    norm = normalize_name(name)
    assert normalize_name(norm) == norm
    assert isinstance(singular(norm), str)


def test_direction_modes_listed_in_query_types_are_the_engines():
    assert set(DIRECTION_MODES) == {"", LEFT_RIGHT, LEFT_RIGHT_BACK, QUADRANT}
