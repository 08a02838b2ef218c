"""Parameters read from one clause of normalised text (lowercase, single spaces, at most `MAX_CHARS`).

Every pattern is a fixed sequence of bounded pieces (no nested unbounded quantifiers), so each runs in linear
time on any input. Each extractor returns values and the spans it read, so the prompt can leave them out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.compose import vocabulary as vocab

MAX_CHARS = 4000
NUM = r"(\d{1,5}(?:\.\d{1,3})?)"
# English number words and the other languages' ("cinq", "fünf"), for counts said before a unit
_NUMBER_WORDS: dict[str, float] = {**vocab.LANG_NUMBERS, **vocab.WORD_NUMBERS}
_WORDNUM = "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True))
_B = r"(?<![a-z0-9.])"  # a word starts here
_E = r"(?![a-z0-9])"

_FACTOR = [
    re.compile(rf"{_B}{NUM} ?(?:x|\u00d7|times){_E}"),
    re.compile(rf"{_B}x ?{NUM}{_E}"),
    re.compile(rf"{_B}by (?:a factor of |factor )?{NUM}(?! ?(?:px|pixels?|%|p{_E}|k{_E}|fps))(?![0-9])"),
    re.compile(rf"{_B}factor (?:of )?{NUM}{_E}"),
]
_PERCENT = re.compile(rf"{_B}{NUM} ?(?:%|percent){_E}")
_FACTOR_WORDS = vocab.phrase_pattern(list(vocab.FACTOR_WORDS))
_SIZE = re.compile(rf"{_B}(\d{{2,5}})(?: ?[x\u00d7*] ?| by )(\d{{2,5}}){_E}")  # 1920x1080, 1920 by 1080
_WIDTH = re.compile(rf"{_B}(\d{{2,5}}) ?(?:px|pixels?)? ?(?:wide|width|across|in width|horizontally){_E}")
_WIDTH2 = re.compile(rf"{_B}(?:width|wide) (?:of |to |= ?)?(\d{{2,5}}){_E}")
_HEIGHT = re.compile(rf"{_B}(\d{{2,5}}) ?(?:px|pixels?)? ?(?:tall|high|in height|vertically){_E}")
_HEIGHT2 = re.compile(rf"{_B}(?:height|tall) (?:of |to |= ?)?(\d{{2,5}}){_E}")
_NAMED = re.compile(rf"{_B}(8k|4k|uhd|2k|qhd|1440p|full hd|fhd|1080p|720p|hd|576p|540p|480p|360p){_E}")
_NAMED_SIZE = {
    "8k": ("width", 7680),
    "4k": ("width", 3840),
    "uhd": ("width", 3840),
    "2k": ("width", 2048),
    "qhd": ("height", 1440),
    "1440p": ("height", 1440),
    "full hd": ("height", 1080),
    "fhd": ("height", 1080),
    "1080p": ("height", 1080),
    "720p": ("height", 720),
    "hd": ("height", 720),
    "576p": ("height", 576),
    "540p": ("height", 540),
    "480p": ("height", 480),
    "360p": ("height", 360),
}
_SEC_UNITS = (
    r"(?:sec|secs|second|seconds|"
    + "|".join(map(re.escape, vocab.LANG_SECONDS))
    + r"|\u0441\u0435\u043a\u0443\u043d\u0434[\u0430\u044b]?)"  # Russian "sekund(a|y)"
)
_MIN_UNITS = r"(?:min|mins|minute|minutes|" + "|".join(map(re.escape, vocab.LANG_MINUTES)) + ")"
# "5s", "5 sec", "five-second", "5\u79d2"; a number word needs a full unit ("a s" in "as" is not a second)
_SECONDS = re.compile(
    rf"{_B}(?:{NUM}[ -]?(?:s{_E}|{_SEC_UNITS}{_E}|\u79d2)|({_WORDNUM})[ -]{_SEC_UNITS}{_E})"
)
_MINUTES = re.compile(rf"{_B}(?:{NUM}|({_WORDNUM}))[ -]?{_MIN_UNITS}{_E}")
_FPS = re.compile(rf"{_B}{NUM} ?(?:fps|frames per second|frames/s|frames a second){_E}")
_FRAMES = re.compile(rf"{_B}(\d{{1,4}}) frames{_E}(?! per| a second)")
_PX = re.compile(rf"{_B}(\d{{1,4}}) ?(?:px|pixels?){_E}")
_BY_N = re.compile(rf"{_B}by (\d{{1,4}}){_E}")
_SIDE_PAIR = re.compile(
    rf"{_B}(\d{{1,4}}) ?(?:px|pixels?)?(?: (?:on|to|at|from|of|off|onto|towards))?(?: the)? "
    rf"(left|right|top|bottom){_E}"
)
_SIDE_PAIR2 = re.compile(
    rf"{_B}(left|right|top|bottom)(?: side| edge)?(?: by| of)? (\d{{1,4}}) ?(?:px|pixels?)?{_E}"
)
_SIDES = vocab.phrase_pattern(list(vocab.SIDE_WORDS))
_VERTICAL = vocab.phrase_pattern(
    [
        "vertical",
        "portrait mode",
        "portrait orientation",
        "portrait format",
        "in portrait",
        "portrait 480p",
        "portrait 720p",
        "portrait 1080p",
        "9:16",
        "for a phone",
        "phone screen",
        "tall format",
        "stories format",
    ]
)
_SQUARE = vocab.phrase_pattern(["square", "1:1"])
_RATIO = re.compile(rf"{_B}\d{{1,2}} ?: ?\d{{1,2}}(?: (?:aspect )?ratio| aspect| format)?{_E}")
_IMPLIED_SIDES = {"widen", "wider", "width", "landscape", "taller", "height", "zoom out"}
_STRENGTH = re.compile(
    rf"{_B}(?:strength|weight|intensity|influence)(?: of| at| to| =)? ?(\d(?:\.\d{{1,3}})?){_E}"
)
_STRENGTH2 = re.compile(rf"{_B}(\d(?:\.\d{{1,3}})?) (?:strength|weight){_E}")
_DENOISE_WORDS = vocab.phrase_body(vocab.DENOISE_WORDS)
_DENOISE = re.compile(rf"{_B}(?:{_DENOISE_WORDS})(?: of| at| to| =|:)? ?(\d(?:\.\d{{1,3}})?){_E}")
_DENOISE2 = re.compile(rf"{_B}(\d(?:\.\d{{1,3}})?) (?:{_DENOISE_WORDS}){_E}")
_AT = re.compile(rf"{_B}at (\d(?:\.\d{{1,3}})?){_E}(?! ?(?:fps|px|pixels|seconds|s{_E}))")
_BATCH_NOUN = (
    r"(?:(?:different|diff|distinct|alternative|alternate|other|more|new) )?"
    r"(?:images|pictures|photos|pics|variations|versions|variants|renders|stills|takes|options|"
    r"variaciones|variantes|variationen|variazioni|varia\u00e7\u00f5es)"
)
# "a picture of a cat 4 times": a count said last in its clause ("upscale 4 times" is an upscale's factor,
# read by the upscale step before any picture's batch)
_BATCH = re.compile(
    rf"{_B}(?:(?:a )?batch(?: size)?(?: of| =|:)? ?(\d{{1,2}}|{_WORDNUM})"
    rf"|(\d{{1,2}}|{_WORDNUM}|a few|a couple(?: of)?)(?= {_BATCH_NOUN}{_E})"
    rf"|(\d{{1,2}}|{_WORDNUM}) times(?: over)?(?= ?(?:please|pls)?[.;!?]*$|,)|(twice)(?= ?[.,;!?]|$)){_E}"
)
_SEED = re.compile(rf"{_B}seed(?: of| =| number)? ?(\d{{1,19}}){_E}")
_QUOTED = re.compile(r'"([^"]{1,200})"')
_SINGLE_QUOTED = re.compile(r"(?<![a-z0-9])'([^']{1,120})'(?![a-z0-9])")
_SAYING = re.compile(
    r"(?<![a-z0-9])(?:saying|that says|which says|that reads|which reads) ([^,.;!?\"]{1,60})"
)
_LORA_AFTER = re.compile(
    r"(?<![a-z0-9])(?:lora|lycoris|locon)(?: model)?(?: called| named| file| ?:)? ?"
    r"([a-z0-9][a-z0-9_.\-]{0,80})"
)
_LORA_TAG = re.compile(r"<(?:lora|lyco):([a-z0-9][a-z0-9_.\-]{0,80})(?::(\d(?:\.\d{1,3})?))?>")
_LORA_BEFORE = re.compile(r"(?<![a-z0-9])([a-z0-9][a-z0-9_.\-]{0,80}) (?:lora|lycoris|locon)(?![a-z0-9])")
_LORA_STOP = {
    "the",
    "a",
    "an",
    "my",
    "this",
    "that",
    "with",
    "using",
    "use",
    "apply",
    "and",
    "at",
    "of",
    "to",
    "some",
    "on",
    "in",
    "strength",
    "weight",
    "your",
    "his",
    "her",
    "its",
    "our",
    "their",
    "add",
    "plus",
    "same",
}


@dataclass
class Found:
    values: dict[str, object] = field(default_factory=dict)
    spans: list[tuple[int, int]] = field(default_factory=list)


def _num(text: str) -> float:
    return float(text)


def word_or_num(num: str | None, word: str | None) -> float | None:
    if num:
        return _num(num)
    if word:
        return float(_NUMBER_WORDS.get(word, 0)) or None
    return None


def factor(text: str, found: Found) -> None:
    for pattern in _FACTOR:
        m = pattern.search(text)
        if m:
            value = _num(m.group(1))
            if 1 < value <= 8:
                found.values["factor"] = value
                found.spans.append(m.span())
                return
    m = _PERCENT.search(text)
    if m:
        pct = _num(m.group(1))
        found.values["factor"] = pct / 100 if pct >= 100 else 1 + pct / 100
        found.spans.append(m.span())
        return
    m = _FACTOR_WORDS.search(text)
    if m:
        found.values["factor"] = float(vocab.FACTOR_WORDS[m.group(0)])


def target_size(text: str, found: Found) -> None:
    m = _SIZE.search(text)
    if m and int(m.group(1)) >= 64 and int(m.group(2)) >= 64:
        found.values["width"], found.values["height"] = int(m.group(1)), int(m.group(2))
        found.spans.append(m.span())
        return
    for key, patterns in (("width", (_WIDTH, _WIDTH2)), ("height", (_HEIGHT, _HEIGHT2))):
        for pattern in patterns:
            m = pattern.search(text)
            if m and int(m.group(1)) >= 64:
                found.values[key] = int(m.group(1))
                found.spans.append(m.span())
                break
    if "width" not in found.values and "height" not in found.values:
        m = _NAMED.search(text)
        if m:
            key, value = _NAMED_SIZE[m.group(1)]
            found.values[key] = value
            found.spans.append(m.span())


def named_size(text: str, found: Found) -> None:
    """ "720p", "480p", "1080p", "4k" for a generation: the height (or width) of the picture or clip."""
    if "width" in found.values or "height" in found.values:
        return
    m = _NAMED.search(text)
    if m:
        key, value = _NAMED_SIZE[m.group(1)]
        if key == "height":  # "720p" is 16:9 at that height (sides a multiple of 16)
            found.values["width"] = round(value * 16 / 9 / 16) * 16
        found.values[key] = value
        found.spans.append(m.span())


def orientation(text: str, found: Found) -> None:
    """ "vertical 720p", "portrait 480p", "square": the named size turned or squared. The words leave the
    prompt either way (a shape said without a size is the request's: Reformat reads it for the whole run)."""
    vertical, square = _VERTICAL.search(text), _SQUARE.search(text)
    found.spans += [m.span() for m in (vertical, square, _RATIO.search(text)) if m is not None]
    width, height = found.values.get("width"), found.values.get("height")
    if not isinstance(width, int) or not isinstance(height, int):
        return
    if vertical and width > height:
        found.values["width"], found.values["height"] = height, width
    elif square and width != height:
        found.values["width"] = found.values["height"] = min(width, height)


def clip_timing(text: str, found: Found) -> None:
    m = _SECONDS.search(text)
    if m:
        seconds = word_or_num(m.group(1), m.group(2))
        if seconds:
            found.values["seconds"] = min(seconds, 60.0)
            found.spans.append(m.span())
    else:
        m = _MINUTES.search(text)
        if m:
            minutes = word_or_num(m.group(1), m.group(2))
            if minutes:
                found.values["seconds"] = min(minutes * 60, 60.0)
                found.spans.append(m.span())
    m = _FPS.search(text)
    if m and 0 < _num(m.group(1)) <= 120:
        found.values["fps"] = _num(m.group(1))
        found.spans.append(m.span())
    m = _FRAMES.search(text)
    if m and 1 <= int(m.group(1)) <= 1024:
        found.values["frames"] = int(m.group(1))
        found.spans.append(m.span())


def image_size(text: str, found: Found) -> None:
    m = _SIZE.search(text)
    if m and int(m.group(1)) >= 64 and int(m.group(2)) >= 64:
        found.values["width"], found.values["height"] = int(m.group(1)), int(m.group(2))
        found.spans.append(m.span())


def sides(text: str, found: Found) -> None:
    amounts: dict[str, int] = {}
    for pattern, num_first in ((_SIDE_PAIR, True), (_SIDE_PAIR2, False)):
        for m in pattern.finditer(text):
            num, side = (m.group(1), m.group(2)) if num_first else (m.group(2), m.group(1))
            amounts.setdefault(side, int(num))
            found.spans.append(m.span())
    explicit: list[str] = []
    implied: list[str] = []
    for m in _SIDES.finditer(text):
        word = m.group(0)
        key = next(k for k in vocab.SIDE_WORDS if k == word or (k.endswith("*") and word.startswith(k[:-1])))
        target = implied if key.rstrip("*") in _IMPLIED_SIDES else explicit
        target.extend(vocab.SIDE_WORDS[key])
    chosen = list(dict.fromkeys(explicit or implied or ([] if amounts else ["left", "right"])))
    px = _PX.search(text) or _BY_N.search(text)
    default = int(px.group(1)) if px else 256
    if px:
        found.spans.append(px.span())
    for side in chosen:
        amounts.setdefault(side, default)
    for side, value in amounts.items():
        found.values[side] = max(8, min(value, 4096))


def strength(text: str, found: Found) -> None:
    m = _STRENGTH.search(text) or _STRENGTH2.search(text)
    if m and float(m.group(1)) <= 2:
        found.values["strength"] = float(m.group(1))
        found.spans.append(m.span())


def denoise(text: str, found: Found) -> None:
    """How much of a given picture is redrawn: "strength 0.7", "denoise: 0.5", "0.4 denoise" (0-1)."""
    m = _DENOISE.search(text) or _DENOISE2.search(text)
    if m and 0 < float(m.group(1)) <= 1:
        found.values["denoise"] = float(m.group(1))
        found.spans.append(m.span())


def lora(text: str, found: Found) -> None:
    tag = _LORA_TAG.search(text)  # "<lora:pixel_art:0.8>", the prompt syntax of other UIs
    if tag is not None:
        found.values["name"] = tag.group(1).strip(".-")
        if tag.group(2) and float(tag.group(2)) <= 4:
            found.values["strength"] = float(tag.group(2))
        found.spans.append(tag.span())
        return
    name = None
    for pattern in (_LORA_AFTER, _LORA_BEFORE):
        for m in pattern.finditer(text):
            word = m.group(1).strip(".-")
            if word and word not in _LORA_STOP:
                name = word
                found.spans.append(m.span())
                break
        if name:
            break
    found.values["name"] = name or "lora.safetensors"
    weight = _STRENGTH.search(text) or _STRENGTH2.search(text) or _AT.search(text)
    if weight and float(weight.group(1)) <= 4:
        found.values["strength"] = float(weight.group(1))
        found.spans.append(weight.span())


def quoted_text(raw: str, norm: str) -> tuple[str, tuple[int, int]] | None:
    """Text to render: a quoted string, else the words after "saying", "that reads" ... (original case)."""
    m = _QUOTED.search(raw) or _SINGLE_QUOTED.search(raw)
    if m:
        return m.group(1).strip(), m.span()
    m = _SAYING.search(norm)
    if m:
        start, end = m.span(1)
        return raw[start:end].strip(), m.span()
    return None


def seed(text: str, found: Found) -> None:
    m = _SEED.search(text)
    if m and int(m.group(1)) < 2**64:
        found.values["seed"] = int(m.group(1))
        found.spans.append(m.span())


def batch(text: str, found: Found) -> None:
    """How many pictures at once: "a batch of 4", "4 images of", "two variations" (2-16)."""
    m = _BATCH.search(text)
    said = (m.group(1) or m.group(2) or m.group(3) or m.group(4)) if m else None
    said = {"a few": "three", "a couple": "two", "a couple of": "two", "twice": "two"}.get(said or "", said)
    count = word_or_num(said, None) if said and said.isdigit() else word_or_num(None, said)
    if m and count is not None and 2 <= count <= 16:
        found.values["batch"] = int(count)
        found.spans.append(m.span())


# A ControlNet kind said by its name ("a canny controlnet", "openpose", "depth controlnet") decides the kind
# over words that only suggest one ("from this sketch" suggests scribble): names first, as they are said.
_CONTROLNET = r"(?:control ?net|controlnet)"
_KIND_NAME = re.compile(
    rf"{_B}(?:(canny|openpose)"
    rf"|(depth|pose|scribble)(?=[ -](?:{_CONTROLNET}|map|model|conditioning|guid|cn{_E}))){_E}"
    rf"|{_B}{_CONTROLNET}s? (?:\(|with |using |of |for |type |= ?|: ?)?"
    rf"(canny|depth|openpose|pose|scribble){_E}"
)
_KIND_OF_NAME = {"openpose": "pose"}


def control_kind(text: str, found: Found) -> str | None:
    """The control kind a clause names outright ("canny", "a depth controlnet", "controlnet: pose"), else
    None (the suggesting words are read after it)."""
    m = _KIND_NAME.search(text)
    if m is None:
        return None
    name = next(g for g in m.groups() if g)
    found.spans.append(m.span(next(i for i, g in enumerate(m.groups(), 1) if g)))
    return _KIND_OF_NAME.get(name, name)
