"""The prompt-set format: strict parsing with line numbers, ranges, and the shipped sets themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.cases import Range, load_set, parse_set, select
from evals.errors import SetFormatError

SETS = Path(__file__).resolve().parents[3] / "evals" / "sets"


def line(**case: object) -> str:
    return json.dumps({"id": "c1", "prompt": "a cat", **case})


def test_good_case_with_ranges_and_numbers() -> None:
    [case] = parse_set(
        line(expect={"frames": {"min": 97, "max": 153}, "width": 1280, "task": "Text_To_Video"})
    )
    assert case.expect.frames == Range(min=97, max=153)
    assert case.expect.width == 1280
    assert case.expect.task == "text-to-video"
    assert case.task == "text-to-video"


def test_unknown_expect_key_is_an_error_with_its_line_number() -> None:
    text = line() + "\n" + line(id="c2", expect={"frame_count": 121})
    with pytest.raises(SetFormatError) as info:
        parse_set(text, source="set.jsonl")
    assert info.value.problems == ["set.jsonl:2: unknown key 'expect.frame_count'"]


def test_malformed_line_gives_a_clear_error_with_the_line_number() -> None:
    text = "\n".join([line(), "", '{"id": "c2", "prompt": "x",', line(id="c3")])
    with pytest.raises(SetFormatError) as info:
        parse_set(text, source="set.jsonl")
    [problem] = info.value.problems
    assert problem.startswith("set.jsonl:3: invalid JSON")
    assert "set.jsonl:3" in str(info.value)


def test_every_bad_line_is_reported_at_once() -> None:
    text = "\n".join(
        [
            line(expect={"frames": "lots"}),
            line(id="c2", expect={"width": {"min": 5, "maxi": 9}}),
            line(id="c1"),
            "[1, 2]",
            line(id="c5", unknown=1),
            json.dumps({"id": "c6"}),
            line(id="c7", expect={"frames": {"min": 9, "max": 5}}),
            line(id="c8", expect={"output": "gif"}),
        ]
    )
    with pytest.raises(SetFormatError) as info:
        parse_set(text, source="s")
    problems = info.value.problems
    assert 's:1: expect.frames: must be an integer or {"min": a, "max": b}' in problems
    assert "s:2: unknown key 'expect.width.maxi'" in problems
    assert "s:3: duplicate id 'c1' (first on line 1)" not in problems  # line 1 was bad: c1 not taken yet
    assert "s:4: a case must be a JSON object, got list" in problems
    assert "s:5: unknown key 'unknown'" in problems
    assert "s:6: missing key 'prompt'" in problems
    assert any(p.startswith("s:7:") and "greater than max" in p for p in problems)
    assert any(p.startswith("s:8: expect.output") for p in problems)


def test_duplicate_ids_name_the_first_line() -> None:
    with pytest.raises(SetFormatError) as info:
        parse_set(line() + "\n" + line())
    assert info.value.problems == ["<set>:2: duplicate id 'c1' (first on line 1)"]


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b.png", "", ".hidden"])
def test_input_names_must_be_plain_file_names(name: str) -> None:
    with pytest.raises(SetFormatError, match=r"plain file name|inputs"):
        parse_set(line(inputs={"image": name}))


def test_frames_must_be_integers_not_floats_or_bools() -> None:
    for bad in (120.5, True, "121"):
        with pytest.raises(SetFormatError):
            parse_set(line(expect={"frames": bad}))


def test_empty_set_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SetFormatError, match="no case"):
        parse_set("\n\n")
    with pytest.raises(SetFormatError, match="cannot read"):
        load_set(tmp_path / "missing.jsonl")


def test_select_by_tags_then_limit() -> None:
    cases = parse_set("\n".join(line(id=f"c{i}", tags=["smoke"] if i % 2 else []) for i in range(6)))
    assert [c.id for c in select(cases, tags=["smoke"])] == ["c1", "c3", "c5"]
    assert [c.id for c in select(cases, tags=["smoke"], limit=2)] == ["c1", "c3"]
    assert len(select(cases)) == 6


def _nearest_4k1(x: float) -> int:
    k = round((x - 1) / 4)
    return 4 * k + 1


def test_shipped_sets_parse_and_are_big_enough() -> None:
    files = sorted(SETS.glob("*.jsonl"))
    assert files, "no shipped prompt set"
    ids: set[str] = set()
    total = 0
    for f in files:
        cases = load_set(f)
        if f.name == "smoke.jsonl":
            assert 3 <= len(cases) <= 20
            continue
        total += len(cases)
        for c in cases:
            assert c.id not in ids, f"{c.id} appears in two sets"
            ids.add(c.id)
    assert total >= 150


def test_shipped_video_expectations_follow_hunyuan_rules() -> None:
    """frames 4k+1 and sizes multiples of 16 wherever a HunyuanVideo case gives exact values."""
    for f in sorted(SETS.glob("*.jsonl")):
        for c in load_set(f):
            e = c.expect
            hunyuan = "EmptyHunyuanLatentVideo" in e.nodes or "HunyuanImageToVideo" in e.nodes
            if e.task in ("text-to-video", "image-to-video") and "model-free" not in c.tags:
                hunyuan = True
            if not hunyuan:
                continue
            if isinstance(e.frames, int):
                assert e.frames % 4 == 1, f"{c.id}: {e.frames} frames is not 4k+1"
            for dim in (e.width, e.height):
                if isinstance(dim, int):
                    assert dim % 16 == 0, f"{c.id}: {dim} is not a multiple of 16"
