"""The planner's request parser: numbers with units, number words, resolutions, aspect ratios, colours.

Each extractor finds its phrase with a small grammar over the text, records the span it consumed, and the
remaining text becomes the prompt. Nothing here matches whole sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agents.compose import vocabulary as vocab
from agents.compose.clauses import GAP, close_gaps
from agents.request_words import COLORS, NAMED_HEIGHTS, ORIENTATIONS, STYLES

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SPECIAL = {
    "a": 1,
    "an": 1,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
    "a few": 3,
    "a dozen": 12,
    "dozen": 12,
}
# the other languages' counts (`vocabulary.json` "languages"): "cinq secondes", "fünf Sekunden"
_UNITS.update({w: n for w, n in vocab.LANG_NUMBERS.items() if n < 20})
_TENS.update({w: n for w, n in vocab.LANG_NUMBERS.items() if n >= 20})
_ONES = "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
_WORD = "|".join(sorted(map(re.escape, _TENS), key=len, reverse=True))
# "twenty five", "twenty-five", "two and a half", "a couple of", "1.5", "2,5"; only tens take a second word
# ("um five seconds" is five, not six)
NUMBER = (
    rf"(?:\d+(?:[.,]\d+)?|(?:(?:(?:{_WORD})(?:[\s-](?:{_ONES}))?|{_ONES})"
    rf"(?:\s+and\s+a\s+half|\s+point\s+(?:{_ONES}))?)"
    r"|a\s+couple(?:\s+of)?|a\s+few|a\s+dozen|half\s+an?|half|quarter(?:\s+of\s+an?)?|an?)"
)


def parse_number(text: str) -> float | None:
    """`"2.5"`, `"2,5"`, `"twenty-five"`, `"two and a half"`, `"two point five"`, `"a couple of"`, `"half a"`
    -> a number."""
    t = re.sub(r"\s+", " ", text.strip().lower())
    if not t:
        return None
    if re.fullmatch(r"-?\d+(?:[.,]\d+)?", t):  # a sign only where a pattern allows one (seed -3)
        return float(t.replace(",", "."))
    if t in ("half", "half a", "half an"):
        return 0.5
    if t.startswith("quarter"):
        return 0.25
    if t in _SPECIAL:
        return float(_SPECIAL[t])
    if " point " in t:  # "two point five"
        whole, _, tenth = t.partition(" point ")
        first, digit = parse_number(whole), _UNITS.get(tenth)
        return first + digit / 10 if first is not None and digit is not None and digit < 10 else None
    half = 0.0
    if t.endswith(" and a half"):
        half, t = 0.5, t[: -len(" and a half")]
    total = 0
    for word in re.split(r"[\s-]+", t):
        if word in _UNITS:
            total += _UNITS[word]
        elif word in _TENS:
            total += _TENS[word]
        else:
            return None
    return total + half


@dataclass
class Parsed:
    """Everything the parser found, plus the text that is left for the prompt."""

    numbers: dict[str, float] = field(
        default_factory=dict
    )  # duration, frames, fps, steps, seed, guidance ...
    width: int | None = None
    height: int | None = None
    named_height: int | None = None
    aspect: tuple[int, int] | None = None
    color: int | None = None
    styles: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    model_files: list[str] = field(default_factory=list)
    output_format: str | None = None
    rest: str = ""
    consumed: list[tuple[int, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in {"consumed"}}


_DURATION_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "ms": 0.001,
    **dict.fromkeys(vocab.LANG_SECONDS, 1.0),
    **dict.fromkeys(vocab.LANG_MINUTES, 60.0),
}
_UNIT_RE = "|".join(sorted(map(re.escape, _DURATION_UNITS), key=len, reverse=True))
# Between a number and its unit: digits may touch the unit ("5s"), a number word never does, else "as the
# first frame" would read as "a s" (one second).
_GAP = r"(?:(?<=\d)\s*(?:-\s*)?|\s*-\s*|\s+)"


def _words(phrases: list[str]) -> str:
    """An alternation of lexicon phrases, any run of spaces between their words."""
    return "|".join(sorted((r"\s+".join(map(re.escape, p.split())) for p in phrases), key=len, reverse=True))


_FPS_UNITS = _words(vocab.LANG_FPS_UNITS)
_FRAME_NOUNS = _words(vocab.LANG_FRAME_NOUNS)
_AFTER_DURATION = _words(["long", *vocab.LANG_AFTER_DURATION])

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "fps",
        re.compile(
            rf"\b(?:at\s+)?(?P<n>{NUMBER}){_GAP}(?:fps|frames?\s+per\s+second|frames?/s|hz|{_FPS_UNITS})"
            r"(?![\w/])",
            re.I,
        ),
    ),
    ("fps", re.compile(r"\b(?:fps|frame\s*rate)\s*(?:of|=|:)?\s*(?P<n>\d+(?:\.\d+)?)\b", re.I)),
    ("frames", re.compile(rf"\b(?P<n>{NUMBER}){_GAP}(?:frames?|f|{_FRAME_NOUNS})\b(?!\s*per)", re.I)),
    ("frames", re.compile(r"\b(?:frames|length)\s*(?:of|=|:)\s*(?P<n>\d+)\b", re.I)),
    (
        "duration",
        re.compile(
            # "~5 s", "5 to 6 seconds" (the upper end), "a minute and a half", "half-minute"
            rf"(?:\b(?:duration|length)\s*(?:of|=|:)?\s*)?(?:~\s*)?(?:\b(?:{NUMBER})\s*(?:to|-|\u2013|or)\s*)?"
            rf"\b(?P<n>{NUMBER}){_GAP}(?P<u>{_UNIT_RE})\b(?P<half>\s+and\s+a\s+half)?"
            rf"(?!\s+frames?\b)\.?(?:\s+(?:{_AFTER_DURATION})\b)?",
            re.I,
        ),
    ),
    ("duration", re.compile(r"\b(?:duration|length)\s*(?:of|=|:)\s*(?P<n>\d+(?:\.\d+)?)\s*(?:s\b)?", re.I)),
    # before the steps: "cfg scale 8 steps 40" is cfg 8 and 40 steps
    (
        "guidance",
        re.compile(
            r"\b(?:cfg(?:\s+scale)?|guidance(?:\s+scale)?)\s*(?:=|:|of)?\s*(?P<n>\d+(?:\.\d+)?)\b", re.I
        ),
    ),
    (
        "steps",
        re.compile(rf"\b(?P<n>{NUMBER}){_GAP}(?:sampling\s+|diffusion\s+|denoising\s+)?steps?\b", re.I),
    ),
    ("steps", re.compile(r"\bsteps?\s*(?:=|:|of)?\s*(?P<n>\d+)\b", re.I)),
    ("seed", re.compile(r"\b(?:random\s+)?seed\s*(?:=|:|of|#)?\s*(?P<n>-?\d+)\b", re.I)),
    (
        "denoise",
        re.compile(r"\b(?:denoise|denoising|strength)\s*(?:=|:|of)?\s*(?P<n>[01](?:\.\d+)?)\b", re.I),
    ),
    # "a batch of 4", "batch size: 4", "8 images of", "two variations": how many outputs at once
    ("batch", re.compile(rf"\b(?:an?\s+)?batch(?:\s+size)?\s*(?:of|=|:)?\s*(?P<n>{NUMBER})\b", re.I)),
    # "a fox, 4 versions": the count and its noun are both settings (with "of" the noun leads the subject)
    (
        "batch",
        re.compile(
            rf"\b(?P<n>{NUMBER})\s+(?:(?:different|diff|alternative|alternate|other)\s+)?"
            r"(?:variations|versions|variants|options|takes)\b(?!\s+of\b)",
            re.I,
        ),
    ),
    (
        "batch",
        re.compile(
            rf"(?<!\bthese\s)(?<!\bthose\s)(?<!\bboth\s)(?<!\bthe\s)(?<!\bmy\s)\b(?P<n>{NUMBER})"
            r"(?=\s+(?:different\s+|diff\s+|distinct\s+|separate\s+|unique\s+|alternative\s+|alternate\s+|other\s+)?(?:images|pictures|photos|pics|"
            r"variations|versions|variants|renders|options|takes|videos|clips|stills|portraits|wallpapers|"
            r"illustrations|icons|logos|designs)\b)",
            re.I,
        ),
    ),
    ("upscale", re.compile(r"\b(?P<n>\d+(?:\.\d+)?)\s*x\b(?!\s*\d)(?:\s+(?:upscale|bigger|larger))?", re.I)),
    ("upscale", re.compile(rf"\b(?P<n>{NUMBER})\s+times\s+(?:bigger|larger)\b", re.I)),
    (
        "upscale",
        re.compile(
            rf"\b(?:by|times)\s+(?:a\s+factor\s+of\s+)?(?P<n>{NUMBER})\b(?=\s*(?:x\b|times\b|$|[,.]))", re.I
        ),
    ),
    # "a picture of a cat 4 times": a count said last (after the upscale readings, which take "upscale it 4
    # times" first; `_ENLARGING` keeps a resize's or a speed's "N times" from reading as a batch)
    (
        "batch",
        re.compile(
            rf"\b(?:(?P<n>{NUMBER})\s+times(?:\s+over)?|(?P<twice>twice))(?=\s*(?:please|pls)?[\s.;!?]*$|\s*,)",
            re.I,
        ),
    ),
]
_ORDINAL_SECOND = re.compile(
    r"an?\s+second\s+(?:picture|image|photo|pic|version|one|take|try|attempt|option|variation|render|shot|still|"
    r"portrait|drawing|painting|illustration|design|logo|poster|opinion|look)s?\b",
    re.I,
)
_ENLARGING = re.compile(
    r"\b(?:upscal\w*|enlarg\w*|bigger|larger|scale\w*|zoom\w*|faster|slower|speed\w*|loop\w*|repeat\w*|"
    r"magnif\w*|resolution|interpolat\w*|frames?)\b",
    re.I,
)
_RES_RE = re.compile(
    r"\b(?P<w>\d{2,5})(?:\s*[x\u00d7*]\s*|\s+by\s+)(?P<h>\d{2,5})\b(?:\s*(?:px|pixels))?", re.I
)
_NAMED_RE = re.compile(
    r"\b(?P<n>[1-9]\d{2,3}p|8k|4k|2k|full\s+hd|fhd|uhd|hd)\b(?:\s+(?:resolution|quality))?", re.I
)
_ASPECT_RE = re.compile(
    r"\b(?P<a>\d{1,2})\s*(?P<sep>:|/|x|\u00d7|\s+by\s+)\s*(?P<b>\d{1,2})\b(?:\s+(?:aspect(?:\s+ratio)?|format))?",
    re.I,
)
_WIDE_RE = re.compile(
    r"(?<![\d.])(?P<a>[1-3]\.\d{1,2})\s*:\s*1\b(?:\s+(?:aspect(?:\s+ratio)?|format))?", re.I
)
# "16x9", "16 by 9", "9/16" are a frame's shape only for the usual shapes ("3x3 grid" is not one)
_USUAL_ASPECTS = {(16, 9), (9, 16), (4, 3), (3, 4), (21, 9), (9, 21), (3, 2), (2, 3), (5, 4), (4, 5), (1, 1)}
_ORIENT_RE = re.compile(
    r"\b(?:in\s+)?(?P<o>"
    + "|".join(sorted((r"\s+".join(map(re.escape, o.split())) for o in ORIENTATIONS), key=len, reverse=True))
    + r")\b(?P<q>[\s-]+(?:format|orientation|mode|aspect(?:\s+ratio)?|video|clip|image|photo|frame)"
    r")?(?P<r>(?=\s+\d{3,4}p\b))?(?:\s+(?P<px>\d{3,4})(?:\s*px)?\b(?!\s*[x\u00d7*:]))?",
    re.I,
)
_MEDIA_QUALIFIER = re.compile(r"video|clip|image|photo|frame", re.I)
# Also nouns ("this portrait", "the attached landscape"): an orientation only with "in" or a qualifier.
_NOUN_ORIENTATIONS = {"portrait", "landscape"}
_HEX_RE = re.compile(r"#(?P<h>[0-9a-f]{6})\b", re.I)
_COLOR_RE = re.compile(r"\b(?:solid\s+)?(?P<c>" + "|".join(COLORS) + r")\b", re.I)
# Starts only where a run of path characters starts: linear time (any start inside a run was quadratic).
_FILE_RE = re.compile(
    r"(?<![\w./-])(?P<f>[\w./-]+\.(?P<ext>png|jpe?g|webp|bmp|gif|mp4|webm|mov|mkv|avi))\b", re.I
)
# A model file the request names ("using dreamshaper_8.safetensors", "lora: add_detail.safetensors"), with the
# words that introduce it, so they leave the prompt too.
_MODEL_FILE_RE = re.compile(
    r"(?:\b(?:using|with|on|via)\s+(?:the\s+|my\s+)?)?"
    r"(?:\b(?:checkpoint|ckpt|model|lora|unet|vae)(?:\s+file)?\s*[:=]?\s*)?"
    r"(?<![\w./-])(?P<f>[\w.-]{1,120}\.(?:safetensors|ckpt|pt|pth|bin|gguf|sft))\b",
    re.I,
)
# One thing not wanted: up to four words, never a number or "more"/"than" ("no more than 5 seconds").
# Linear time: "no" is never an item's first word (else ", no a" parses two ways and a list of n items 2^n
# ways: 23 "no a," took 11 s), and words are atomic (a word never splits to let the list match otherwise).
_NEG_ITEM = (
    r"(?!more\b|than\b|no\s)(?>[a-z][a-z-]*)(?:\s+(?!and\b|or\b|with\b|at\b|in\b)(?>[a-z][a-z-]*)){0,3}"
)
_NEG_RE = re.compile(
    # "negative prompt: ...", "avoid: a, b, c": everything up to the end of the clause
    r"(?:(?:\(\s*)?\b(?:negative(?:\s+prompt)?|avoid|avoiding|exclude|excluding)\s*[:=]\s*"
    r"(?P<a>[^;\n)]+?)(?=\.(?:\s|$)|[;\n)]|$)\)?)|"
    # "I don't want any text in it", "make sure there's no people", "don't include snow"
    r"(?:\b(?:(?:i\s+)?(?:don'?t|do\s+not)\s+(?:want|include|show|add|put)|make\s+sure\s+there(?:'s|\s+is|\s+are)"
    r"\s+no)\s+(?:any\s+)?(?P<d>[a-z][a-z -]{0,40}?)(?:\s+in\s+(?:it|the\s+\w+))?(?=[,.;:)]|$))|"
    # a clause of its own that starts with the word ("a cat; avoid blurry, low quality"): all of it
    r"(?:(?:^|(?<=[;.(]))\s*(?:negative(?:\s+prompt)?|avoid|exclude)(?!\s*[:=])(?!\s+prompt\b)\s+"
    r"(?P<c>[^;\n)]+)\)?)|"
    # "without a and b", "avoid a, b or c", "no a, no b": a list only when "and"/"or" closes it
    rf"(?:\b(?:without|avoid|avoiding|exclude|excluding|no)\s+(?P<b>{_NEG_ITEM}"
    # at most 12 items: each start then costs a bounded scan, so the whole search is linear
    rf"(?:(?:\s*,\s*(?:no\s+)?{_NEG_ITEM}){{0,12}},?\s+(?:and|or)\s+(?:no\s+)?{_NEG_ITEM})?)"
    r"(?=[,.;)]|$|\s+(?:and|with|at|in)\b))",
    re.I,
)
_FORMAT_RE = re.compile(
    r"\b(?:as|in|to)\s+(?:an?\s+)?(?P<f>mp4|webm|webp|gif|png|jpe?g)\b(?:\s+(?:format|file))?", re.I
)


def _take(parsed: Parsed, match: re.Match[str], end: int | None = None) -> bool:
    """Record a match's span (up to `end` when given) unless it overlaps one already consumed (first
    extractor wins)."""
    start, end = match.start(), match.end() if end is None else end
    if any(start < e and s < end for s, e in parsed.consumed):
        return False
    parsed.consumed.append((start, end))
    return True


def parse_request(text: str) -> Parsed:
    """Extract every structured value from free text."""
    parsed = Parsed()
    for match in _FILE_RE.finditer(text):
        if _take(parsed, match):
            name = match.group("f")
            (
                parsed.videos
                if match.group("ext").lower() in {"mp4", "webm", "mov", "mkv", "avi"}
                else parsed.images
            ).append(name)
    for match in _MODEL_FILE_RE.finditer(text):
        if _take(parsed, match) and match.group("f") not in parsed.model_files:
            parsed.model_files.append(match.group("f"))
    for match in _RES_RE.finditer(text):
        if _take(parsed, match):
            parsed.width, parsed.height = int(match.group("w")), int(match.group("h"))
            break
    for match in _NAMED_RE.finditer(text):
        if _take(parsed, match):
            name = re.sub(r"\s+", " ", match.group("n").lower())
            # "768p", "900p": any progressive height names itself, not only the broadcast ones listed
            parsed.named_height = NAMED_HEIGHTS.get(name) or int(name.removesuffix("p"))
            # "8k uhd", "4K UHD": the same size said twice is no content either
            for twin in _NAMED_RE.finditer(text, match.end(), min(len(text), match.end() + 10)):
                if twin.start() - match.end() <= 2:
                    _take(parsed, twin)
            break
    for match in _WIDE_RE.finditer(text):  # "2.39:1", "1.85:1": the cinema ratios, said as decimals
        if _take(parsed, match):
            parsed.aspect = (round(float(match.group("a")) * 100), 100)
            break
    for match in _ASPECT_RE.finditer(text):
        if parsed.aspect is not None:
            break
        a, b = int(match.group("a")), int(match.group("b"))
        usual = match.group("sep") == ":" or (a, b) in _USUAL_ASPECTS
        if 0 < a <= 32 and 0 < b <= 32 and usual and _take(parsed, match):
            parsed.aspect = (a, b)
            break
    worded = False  # the shape came from a word, not a ratio ("(9:16) vertical video" keeps "vertical")
    for match in _ORIENT_RE.finditer(text):
        word = " ".join(match.group("o").lower().split())
        qualified = match.group(0).lower().startswith("in") or match.group("q") or match.group("px")
        qualified = qualified or match.group("r") is not None
        if word in _NOUN_ORIENTATIONS and not qualified:
            continue
        # "a vertical video of rain": the noun that qualified the shape stays in the text ("a video of rain")
        noun = match.group("q") is not None and _MEDIA_QUALIFIER.fullmatch(match.group("q").strip())
        end = match.start("q") if noun else None
        if parsed.aspect is not None:
            if worded and ORIENTATIONS[word] == parsed.aspect and not match.group("px"):
                _take(parsed, match, end)  # the same shape named twice ("an instagram post, square")
            continue
        worded = True
        if _take(parsed, match, end):
            parsed.aspect = ORIENTATIONS[word]
            if match.group("px") and parsed.named_height is None:
                parsed.named_height = int(match.group("px"))  # "square 512": the short side
    for match in _FORMAT_RE.finditer(text):
        if _take(parsed, match):
            parsed.output_format = match.group("f").lower().replace("jpeg", "jpg")
            break
    for key, pattern in _PATTERNS:
        if key in parsed.numbers:
            continue
        for match in pattern.finditer(text):
            value = 2.0 if match.groupdict().get("twice") else parse_number(match.group("n"))
            if value is None or not _take(parsed, match):
                continue
            if key == "batch" and not 2 <= value <= 4096:
                continue  # "an image" is one picture, not a batch
            if key == "batch" and re.search(r"times|twice", match.group(0), re.I) and _ENLARGING.search(text):
                continue
            if key == "duration" and _ORDINAL_SECOND.match(text, match.start()):
                continue  # "a second picture of a bird": the next one, not a one-second clip
            if key == "duration":
                value += 0.5 if match.groupdict().get("half") else 0.0
                value *= _DURATION_UNITS.get((match.groupdict().get("u") or "s").lower(), 1.0)
            parsed.numbers[key] = value
            break
    for match in _HEX_RE.finditer(text):
        if _take(parsed, match):
            parsed.color = int(match.group("h"), 16)
            break
    if parsed.color is None:
        for match in _COLOR_RE.finditer(text):
            # A colour only counts as the test colour when it says what the frames look like.
            window = text[max(0, match.start() - 40) : match.end() + 30].lower()
            if re.search(
                r"\b(?:solid|frames?|colou?r(?:ed)?|fill|plain|blank|test|screen)\b", window
            ) and _take(parsed, match):
                parsed.color = COLORS[match.group("c").lower()]
                break
    for match in _NEG_RE.finditer(text):
        phrase = (match.group("a") or match.group("b") or match.group("c") or match.group("d") or "").strip(
            " ,."
        )
        if phrase and _take(parsed, match):
            items = re.split(r"\s*,\s*(?:(?:and|or)\s+)?(?:no\s+)?|\s+(?:and|or)\s+(?:no\s+)?", phrase)
            parsed.negative.extend(i.strip(" .") for i in items if i.strip(" ."))
    lowered = text.lower()
    for style in STYLES:
        # A style word counts only as its own phrase ("..., cinematic", "in anime style", "as an anime"),
        # never as an adjective inside the description ("a vintage car").
        word = re.escape(style)
        style_re = (
            rf"(?:(?<=,)|^|(?<=[.;]))\s*(?:in\s+(?:an?\s+)?)?{word}(?:\s+style)?\s*(?=[,.;]|$)"
            rf"|\b(?:in(?:to)?\s+(?:an?\s+|the\s+)?)?{word}\s+style\b|\bas\s+(?:an?\s+)?{word}\b"
        )
        for match in re.finditer(style_re, lowered):
            if style not in parsed.styles:
                parsed.styles.append(style)
            _take(parsed, match)
    parsed.rest = _remove_spans(text, parsed.consumed)
    return parsed


# A connector left dangling right before a consumed phrase ("lasting 5 seconds", "in 720p", "at 24 fps").
# "like 6 secs", "about 5 seconds": a hedge on a consumed figure goes with it, and so does its label
# ("quality 720p", "size 768x768").
_CONNECTOR = re.compile(
    r"(?:\b(?:at|in|with|of|and|for|lasting|long|like|about|around|roughly|approximately|approx|maybe|"
    r"quality|resolution|res|size)|@|~|\b(?:" + _words(vocab.LANG_CONNECTORS) + r"))\s*$",
    re.I,
)


def _remove_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """The text without the consumed phrases. Only connectors that introduced a consumed phrase go with
    it: the user's own words stay ("the camera zooms in, 5 seconds" keeps "zooms in")."""
    out, pos = [], 0
    for start, end in sorted(spans):
        if start >= pos:
            out.append(_CONNECTOR.sub("", text[pos:start]))
            out.append(GAP)
        pos = max(pos, end)
    out.append(text[pos:])
    rest = close_gaps("".join(out))  # "a square image" -> "an image"
    rest = re.sub(r"\s*,(\s*,)+", ",", rest)
    rest = re.sub(r"\s+([,.;])", r"\1", rest)
    rest = re.sub(r"([,;])(?:\s*[,.;])+", r"\1", rest)
    rest = re.sub(r"[,;]\s*:", ":", rest)  # "a clip, 24 fps: a chef" -> "a clip: a chef"
    rest = re.sub(r"\([\s,;]*\)|\[[\s,;]*\]", "", rest)  # "(9:16)", "(5s, 1080p)" consumed whole
    rest = re.sub(r"\s{2,}", " ", rest)
    return rest.strip(" ,.;:-")


def hex_color(value: int) -> str:
    return f"#{value:06x}"
