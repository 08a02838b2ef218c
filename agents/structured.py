"""Requests written as fields rather than sentences: "key: value" lines, bullet lists, a JSON-ish object.

`as_sentence` turns them into the plain request the parser reads ("subject: a red fox / style: watercolor /
size: 768x1344" -> "a red fox, in watercolor style, 768x1344"), so labels and bullets never reach the
prompt and each value is read for what its key says. Free text comes back unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

# What each key means, by its lowercase words ("aspect_ratio" -> "aspect ratio").
_DESCRIBE = {"subject", "prompt", "positive", "positive prompt", "description", "scene", "content", "idea"}
_NEGATIVE = {
    "negative",
    "negative prompt",
    "negatives",
    "avoid",
    "exclude",
    "don't include",
    "do not include",
}
_FORMAT = {
    "size": "{}",
    "resolution": "{}",
    "res": "{}",
    "dimensions": "{}",
    "aspect": "{}",
    "aspect ratio": "{}",
    "ratio": "{}",
    "orientation": "{}",
    "style": "in {} style",
    "duration": "{} seconds",
    "length": "{} seconds",
    "seconds": "{} seconds",
    "fps": "{} fps",
    "frame rate": "{} fps",
    "framerate": "{} fps",
    "frames": "{} frames",
    "num frames": "{} frames",
    "seed": "seed {}",
    "steps": "{} steps",
    "cfg": "cfg {}",
    "cfg scale": "cfg {}",
    "guidance": "cfg {}",
    "batch": "batch of {}",
    "batch size": "batch of {}",
    "count": "batch of {}",
    "num images": "batch of {}",
    "images": "batch of {}",
    "type": "{}",
    "kind": "{}",
    "media": "{}",
    "output": "{}",
    "medium": "{}",
    "format": "{}",
    "model": "{}",
}
_KIND = {"type", "kind", "media", "output", "medium"}
_KNOWN = _DESCRIBE | _NEGATIVE | set(_FORMAT) | {"width", "height"}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_KEY_LINE = re.compile(r"^\s*(?:[-*\u2022]\s*)?(?P<k>[a-z][a-z _-]{0,24}?)\s*[:=]\s*(?P<v>.*\S)\s*$", re.I)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s+(?P<v>.*\S)\s*$")
_JSON_PAIR = re.compile(r'"(?P<k>[^"]{1,40})"\s*:\s*(?:"(?P<s>[^"]*)"|(?P<n>-?\d+(?:\.\d+)?))')


# Other tools' parameter flags ("--ar 16:9 --seed 42 --no people --v 6"): what each means here, or nothing
_FLAG = re.compile(
    r"(?<!\S)--(?P<k>[a-z]+)(?:[ =]+(?P<v>(?:(?!--)[^\n])*?))?(?=\s+--[a-z]|\s*$)", re.I | re.M
)
_FLAGS = {"ar": "{}", "aspect": "{}", "seed": "seed {}", "no": "; negative: {}", "negative": "; negative: {}"}


def as_sentence(text: str) -> str:
    """The request as one plain sentence when it is written as fields; free text unchanged."""
    text = _flags(text.replace("**", ""))  # markdown bold around labels ("**Style:** oil") is never content
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        found = _json_pairs(stripped)
        return _sentence(found) if found else text
    lines = [line for line in re.split(r"[\r\n]+", stripped) if line.strip()]
    segments = lines if len(lines) > 1 else [s for s in stripped.split(";") if s.strip()]
    if len(segments) < 2:
        return text
    pairs: list[tuple[str, str]] = []
    keyed = 0
    for segment in segments:
        m = _KEY_LINE.match(segment)
        if m is not None and _key(m["k"]) in _KNOWN:
            pairs.append((_key(m["k"]), m["v"]))
            keyed += 1
            continue
        bullet = _BULLET.match(segment)
        pairs.append(("", (bullet["v"] if bullet else segment).strip()))
    bullets = sum(1 for s in segments if _BULLET.match(s))
    if keyed == 0 and bullets < 2:
        return text  # prose over several lines: the parser reads it as it is
    return _sentence(pairs)


def _key(raw: str) -> str:
    return " ".join(raw.lower().replace("_", " ").replace("-", " ").split())


def _json_pairs(text: str) -> list[tuple[str, str]]:
    try:
        data = json.loads(text)
    except ValueError:
        return [(_key(m["k"]), m["s"] if m["s"] is not None else m["n"]) for m in _JSON_PAIR.finditer(text)]
    if not isinstance(data, dict):
        return []
    return [(_key(str(k)), _flat(v)) for k, v in data.items() if _flat(v)]


def _flat(value: object) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict):
        return ""
    if isinstance(value, list):
        return ", ".join(_flat(v) for v in value if _flat(v))
    return str(value).strip()


def _sentence(pairs: Iterable[tuple[str, str]]) -> str:
    described: list[str] = []
    settings: list[str] = []
    negative: list[str] = []
    width = height = None
    kind = ""
    for key, value in pairs:
        value = value.strip().rstrip(".;,")
        if not value:
            continue
        if key in _NEGATIVE:
            negative.append(value)
        elif key in ("width", "height") and _NUMBER.fullmatch(value):
            width, height = (value, height) if key == "width" else (width, value)
        elif key in _KIND and re.fullmatch(r"[a-z]+", value.lower()):
            kind = value.lower()  # "type: video": the media noun that leads a request ("a video of ...")
        elif key in _FORMAT:
            # a bare number takes the key's unit ("duration: 4"); a value with its own ("4s", "9:16") stays
            fmt = _FORMAT[key]
            plain = fmt == "{}" or (not fmt.startswith("in ") and not _NUMBER.fullmatch(value))
            settings.append(value if plain else fmt.format(value))
        else:
            described.append(value)
    if width and height:
        settings.append(f"{width}x{height}")
    if kind and described:
        described[0] = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} of {described[0]}"
    elif kind:
        settings.insert(0, kind)
    sentence = ", ".join([*described, *settings])
    return sentence + (f"; negative: {', '.join(negative)}" if negative else "")


def _flags(text: str) -> str:
    """Parameter flags written as the words the parser reads; flags with no meaning here (--v 6,
    --stylize 250, --niji) leave the request."""
    if "--" not in text:
        return text

    def said(m: re.Match[str]) -> str:
        fmt = _FLAGS.get(m["k"].lower())
        value = (m["v"] or "").strip()
        if fmt is None or not value:
            return ""
        return fmt.format(value) if fmt.startswith(";") else ", " + fmt.format(value)

    return re.sub(r"\s+([,;])", r"\1", _FLAG.sub(said, text)).strip()
