"""Every regular expression that reads user text runs in (near) linear time: adversarial inputs of the
longest allowed prompt (4000 characters) each take a fraction of a second. A 140-character prompt once held
the event loop 11-13 s (`_NEG_RE`: "no a, " x 23)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

import agents.normalize
import agents.parsing
import agents.reformat
from agents.parsing import parse_request
from agents.reformat import clean_prompt

MAX_PROMPT = 4000
TOKENS = [
    "a", " ", "1", "a ", "1 ", ", ", "-", "no ", "with ", "and ", "a and ", "one ", "one-", "a-", "ab ", "1.",
    "a.", "a, ", "no a, ", "in ", "very ", "short ", "please ", " with", "1x", "x1 ", "twenty ",
    "twenty-one ", "a couple of ", "seconds ", "1 1", "without ab cd, ", "#", "1:", "1 by ",
]  # fmt: skip


def patterns() -> Iterator[tuple[str, re.Pattern[str]]]:
    for module in (agents.parsing, agents.reformat, agents.normalize):
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                yield f"{module.__name__}.{name}", value
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, tuple) and len(item) == 2:
                        pattern = item[1]
                        if isinstance(pattern, str):
                            pattern = re.compile(pattern, re.I)
                        if isinstance(pattern, re.Pattern):
                            yield f"{module.__name__}.{name}[{i}]", pattern


PATTERNS = list(patterns())


def test_patterns_found() -> None:
    assert len(PATTERNS) > 20


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_pattern_is_linear(name: str, pattern: re.Pattern[str]) -> None:
    for token in TOKENS:
        for tail in ("!", ""):
            text = token * (MAX_PROMPT // len(token)) + tail
            started = time.perf_counter()
            for _ in pattern.finditer(text):
                pass
            assert time.perf_counter() - started < 0.5, (name, token)


def test_the_attack_prompt_parses_fast() -> None:
    for text in ("no a, " * 23 + "!", ("no a, " * 700)[:MAX_PROMPT]):
        started = time.perf_counter()
        parsed = parse_request(text)
        clean_prompt(parsed.rest)
        assert time.perf_counter() - started < 1.0


def test_negative_lists_still_parse() -> None:
    assert parse_request("a cat, without dogs, birds and cars").negative == ["dogs", "birds", "cars"]
    assert parse_request("a street, no cars, no people or no signs").negative == ["cars", "people", "signs"]
