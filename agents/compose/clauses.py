"""Request text cut into clauses: normalised text, the input files it names, chain words and soft splits.

`normalise` bounds the text (`MAX_CHARS`) and collapses whitespace, so every pattern below (fixed sequences of
bounded pieces, no nested unbounded quantifiers) runs in linear time on any input.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.compose import extract
from agents.compose import vocabulary as vocab
from agents.compose.extract import MAX_CHARS
from agents.compose.patterns import _NEGATIVE
from agents.compose.wiring import file_type

FILE_EXT = (
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".mp4",
    ".webm",
    ".mov",
    ".mkv",
    ".avi",
    ".safetensors",
)
_SETTING_ONLY = re.compile(
    r"(?:\d{1,2} ?: ?\d{1,2}|\d{3,4}p|\d{1,3} (?:sampling )?steps?|\d{1,3}(?:\.\d+)? ?fps"
    r"|(?:seed|cfg|guidance)(?: of| ?=|:)? ?\d{1,19}(?:\.\d+)?"
    r"|(?:in )?(?:square|vertical|horizontal|widescreen|landscape format)"
    r"|size|resolution|duration|length|frame ?rate|aspect(?: ratio)?)\.?"
)
_STRIP = "\"'()[]{},;:!?\u201c\u201d\u2018\u2019`<>"
_SEP = re.compile(
    r"[.;!?](?= |$)|(?<= )(?:->|=>|\u2192|>>|\|)(?= |$)"
    r"|(?:^|(?<= ))\(?\d{1,2}[.)](?= )"  # a numbered list: "1) a city at night 2) make it rain"
    r"|(?<![a-z0-9])(?:" + vocab.phrase_body(vocab.SEPARATORS) + r")(?![a-z0-9])"
)
_SOFT = re.compile(
    r"(?:,? and |, )(?=(?:" + vocab.phrase_body(vocab.STEP_VERBS) + r")(?![a-z0-9]))"
    r"|(?:,? and |, )(?=(?:a|an|another|one more) (?:[^ ]+ ){0,2}(?:clip|video|shot|animation)s?(?![a-z]))"
    # "... from a.png and another from b.png", "and the same for c.png": the step again, on another input
    r"|(?:,? and |, )(?=(?:another|one more|the same|same|likewise)(?: one)? (?:from|for|with|of|using|on) )"
)
# a clause that only repeats the step before on another input ("another from b.png", "the same for c.png")
AGAIN = re.compile(
    r"^(?:and )?(?:do )?(?:another|one more|the same|same|likewise)(?: one)?"
    r"(?: (?:from|for|with|of|using|on))?(?![a-z0-9])"
)
_LEADS = re.compile(r"^(?:" + vocab.phrase_body(vocab.PROMPT_LEADS) + r")(?![a-z0-9])[ ,]*")
_MEDIA = re.compile(r"^(?:" + vocab.phrase_body(vocab.MEDIA_LEADS) + r")(?![a-z0-9]) ?")
# a last word that introduced a phrase read out of the clause ("for", "pendant", "de"): no content
_STOPS = vocab.TRAILING_STOP | {
    w for w in vocab.LANG_CONNECTORS if " " not in w and w not in vocab.LANG_AFTER_DURATION
}

# The lead-in of a request in another language ("crea un video de", "erstelle ein Bild von", "por favor,"):
# politeness, a verb asking for it, an article and a media noun with what introduces the subject. An article
# goes only with a media noun ("un gato" stays the subject, as the lexicon's articles are words elsewhere).
_LANG_NOUNS = vocab.phrase_body([*vocab.LANG_VIDEO_NOUNS, *vocab.LANG_IMAGE_NOUNS])
_SHARED_NOUNS = r"videos?|clips?|images?|photos?"  # English too: foreign only beside a foreign word
_LANG_ARTICLE = vocab.phrase_body(vocab.LANG_ARTICLES) + r"(?=\s)|(?:un|l)['\u2019](?=\w)"  # "un'immagine"
_LANG_OF = rf"(?:{vocab.phrase_body(vocab.LANG_OF)})(?![\w'])\s*|(?:d|dell|dall|del)['\u2019]\s*"
LANG_LEAD = re.compile(
    rf"^(?:(?:{vocab.phrase_body(vocab.LANG_POLITE)})[\s,!.:]+)*"
    rf"(?:(?:{vocab.phrase_body(vocab.LANG_VERBS)})\s+(?:(?:me|mir|moi|mi)\s+)?)?"
    rf"(?:(?:{vocab.phrase_body(vocab.LANG_POLITE)})[\s,!.:]+)*"
    rf"(?:(?:(?:{_LANG_ARTICLE})\s*)?(?:{_LANG_NOUNS})|(?:{_LANG_ARTICLE})\s*(?:{_SHARED_NOUNS})"
    rf"|(?:{_SHARED_NOUNS})(?=\s+(?:{_LANG_OF})))(?![\w'])\s*,?\s*(?:{_LANG_OF}|:\s*)?"
    rf"|^(?:(?:{vocab.phrase_body(vocab.LANG_POLITE)})[\s,!.:]+)+"
    rf"|^(?:{vocab.phrase_body(vocab.LANG_VERBS)})\s+(?=(?:{_LANG_ARTICLE}))"
    # "anima esta foto", "animiere das Bild:": the operation said of the given picture, no description
    rf"|^(?:{vocab.phrase_body(vocab.LANG_ANIMATE)})\s+(?:{vocab.phrase_body(vocab.LANG_THIS)})(?![\w'])[\s,:]*",
    re.I,
)
_POLITE = re.compile(r"^(?:" + vocab.phrase_body(vocab.POLITE) + r")(?![a-z0-9])[ ,]*")

_VERB_START = re.compile(r"^(?:" + vocab.phrase_body(vocab.STEP_VERBS) + r")(?![a-z0-9])")
_KEEP_LAST = re.compile(r"(?<![a-z0-9])(?:" + vocab.phrase_body(vocab.TRAILING_KEEP) + r")$")
_VERB_ONLY = re.compile(r"(?:" + vocab.phrase_body(vocab.STEP_VERBS) + r")(?: (?:it|them|this|that|me|us))?")


@dataclass
class _File:
    name: str
    type: str
    start: int
    end: int


@dataclass
class _Clause:
    raw: str
    norm: str
    start: int
    files: list[_File]
    quotes: list[tuple[int, int]]


def normalise(text: str) -> tuple[str, str]:
    """Single-spaced text (cut at MAX_CHARS) and its lowercase twin of the same length."""
    raw = " ".join(text[:MAX_CHARS].split())
    for a, b in (("\u201c", '"'), ("\u201d", '"'), ("\u2018", "'"), ("\u2019", "'"), ("\u00d7", "x")):
        raw = raw.replace(a, b)
    raw = correct_typos(raw)
    norm = "".join(c.lower() if len(c.lower()) == 1 else c for c in raw)
    return raw, norm


def _kind(name: str) -> str:
    return "LORA" if name.lower().endswith(".safetensors") else file_type(name)


_WORD = re.compile(r"(?<![A-Za-z0-9._/-])[A-Za-z]{5,20}(?![A-Za-z0-9_/-])(?!\.[A-Za-z0-9])")


@functools.lru_cache(maxsize=4096)
def _corrected(word: str) -> str:
    """A word one slip (a letter missing, extra, wrong, or two swapped) from a vocabulary word reads as it."""
    if len(word) < 5 or word in vocab.TYPO_TARGETS or word in vocab.TYPO_KEEP:
        return word
    cut = [t for t in vocab.TYPO_TARGETS if _truncated(word, t)]
    if len(cut) == 1:
        return cut[0]  # "pictur", "animat", "resolutio": the word with its last letter lost
    if any(
        (word.startswith(t) and len(word) - len(t) <= 3) or (t.startswith(word) and len(t) - len(word) <= 2)
        for t in vocab.TYPO_TARGETS
    ):
        return word  # an inflection ("styled", "removes", "pixel" of "pixels"), not a slip
    for target in vocab.TYPO_TARGETS:
        if target[0] == word[0] and abs(len(target) - len(word)) <= 1 and _one_slip(word, target):
            return target
    return word


def _truncated(word: str, target: str) -> bool:
    """`target` lost its last letter: a final silent "e" ("pictur", "generat"), or any but an "s" of a long
    word ("backgroun"); a plural's or a short word's stem is a word of its own ("pixel", "frame", "large")."""
    if len(target) != len(word) + 1 or not target.startswith(word):
        return False
    last = target[-1]
    return last == "e" or (last != "s" and len(target) >= 8)


def _one_slip(a: str, b: str) -> bool:
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def correct_typos(raw: str) -> str:
    """Fix one-letter slips in the words the planner reads ("remve", "upsacle"); other words stay."""
    parts = raw.split('"')
    for i in range(0, len(parts), 2):  # quoted text (what to render) stays as written
        parts[i] = _WORD.sub(lambda m: _fix_case(m.group(0), _corrected(m.group(0).lower())), parts[i])
    return '"'.join(parts)


def _fix_case(original: str, fixed: str) -> str:
    if fixed == original.lower():
        return original
    return fixed.capitalize() if original[:1].isupper() else fixed


def find_files(raw: str) -> list[_File]:
    """Input file names in order: a quoted name may hold spaces, a bare one is one token."""
    found = []
    quoted = []
    for m in extract._QUOTED.finditer(raw):
        name = m.group(1).strip()
        if name.lower().endswith(FILE_EXT) and ".." not in name and "/" not in name:
            quoted.append(m.span())
            found.append(_File(name, _kind(name), m.start() + 1, m.end() - 1))
    for m in re.finditer(r"[^ ]+", raw):
        if any(s <= m.start() < e for s, e in quoted):
            continue
        token = m.group(0)
        left = len(token) - len(token.lstrip(_STRIP))
        name = token.strip(_STRIP).rstrip(".")
        # "img=face.png", "mask:hat.png": the name is what follows the key
        key = max(name.rfind("="), name.rfind(":"))
        if key >= 0:
            left, name = left + key + 1, name[key + 1 :]
        if name.lower().endswith(FILE_EXT) and len(name) > 4 and ".." not in name:
            start = m.start() + left
            found.append(_File(name, _kind(name), start, start + len(name)))
    return sorted(found, key=lambda f: f.start)


def _mask(norm: str, spans: Sequence[tuple[int, int]], char: str) -> str:
    out = list(norm)
    for start, end in spans:
        out[start:end] = char * (end - start)
    return "".join(out)


def split_clauses(raw: str, norm: str, files: list[_File]) -> list[_Clause]:
    names = {(f.start - 1, f.end + 1) for f in files}
    quotes = [m.span() for m in extract._QUOTED.finditer(raw) if m.span() not in names]
    masked = _mask(norm, [(f.start, f.end) for f in files], "@")
    masked = _mask(masked, [(s + 1, e - 1) for s, e in quotes], "#")
    cuts = [0]
    for m in _SEP.finditer(masked):
        cuts += [m.start(), m.end()]
    cuts.append(len(masked))
    pieces = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2)]
    spans: list[tuple[int, int]] = []
    for start, end in pieces:
        at = start
        for m in _SOFT.finditer(masked, start, end):
            spans.append((at, m.start()))
            at = m.end()
        spans.append((at, end))
    clauses = []
    for start, end in spans:
        text = masked[start:end]
        lead = len(text) - len(text.lstrip(" ,"))
        start += lead
        end = start + len(masked[start:end].rstrip(" ,:-"))
        if end - start < 2:
            continue
        clauses.append(
            _Clause(
                raw=raw[start:end],
                norm=masked[start:end],
                start=start,
                files=[
                    _File(f.name, f.type, f.start - start, f.end - start)
                    for f in files
                    if start <= f.start < end
                ],
                quotes=[(s - start, e - start) for s, e in quotes if start <= s < end],
            )
        )
    return clauses


GAP = "\x00"  # marks a span read out of a text: "a {flux} image" -> "an image"
_ARTICLE_GAP = re.compile(r"(?<![a-z0-9])(an?)( *\x00[\x00 ]*)(?=[a-z0-9])", re.I)


def close_gaps(text: str) -> str:
    """The text with its `GAP` spans removed, an article left before one agreeing with the word now after
    it ("a qwen image of" -> "an image of", "an sdxl render" -> "a render"), so a prompt reads naturally."""

    def agree(m: re.Match[str]) -> str:
        after = text[m.end() : m.end() + 1].lower()
        article = "an" if after in "aeiou" else "a"
        return (article.capitalize() if m.group(1)[0].isupper() else article) + " "

    return _ARTICLE_GAP.sub(agree, text).replace(GAP, " ")


def clean(
    raw: str, norm: str, drop: Sequence[tuple[int, int]], *, leads: bool = True, verbs: bool = False
) -> str:
    """What a clause says about the picture: its text without the spans read as parameters, files and
    trigger words, and without request phrasing ("please make me a picture of"). `verbs`: keep a lone
    operation verb ("upscale") rather than read it as no description."""
    keep = list(raw)
    for start, end in drop:
        keep[start:end] = GAP * (end - start)
    for idx, ch in enumerate(norm):
        if ch in "@#" and idx < len(keep):
            keep[idx] = " "
    text = " ".join(close_gaps("".join(keep)).split())
    for _ in range(8):  # bounded: each pass strips one lead
        low = text.lower()
        m = (_LEADS.match(low) or _MEDIA.match(low) or LANG_LEAD.match(low)) if leads else _POLITE.match(low)
        if not m or not m.end():
            break
        text = text[m.end() :].lstrip(" ,:;-")
    # A comma-separated part that is only a setting the other readers take ("16:9", "30 steps", "seed 7")
    # or nothing at all (a duration read out of "a fox, 3 seconds, 480p") is not about the picture.
    parts = [p.strip() for p in text.split(",")]
    text = ", ".join(p for p in parts if p and not _SETTING_ONLY.fullmatch(p.lower()))
    words = text.strip(" ,.;:-").split(" ")
    while words and words[-1].lower().strip(",.") in _STOPS:
        if _KEEP_LAST.search(" ".join(words[-3:]).lower().strip(",.")):
            break
        words.pop()
    text = " ".join(words).strip(" ,.;:-\"'")
    # what is left of "turn it into a 4 second video" once its operation is read: a verb, no description
    return "" if not verbs and _VERB_ONLY.fullmatch(text.lower()) else text


def split_negative(prompt: str) -> tuple[str, str]:
    """A description's parts that say what must not appear ("a lighthouse at night, no people, avoid
    blur") -> (the rest, those things): they are the step's negative prompt, not picture content."""
    kept: list[str] = []
    said: list[str] = []
    labelled = False  # after "negative prompt:" / "avoid:" every part is unwanted
    for part in re.split(r"\s*[,;]\s*", prompt):
        m = _NEGATIVE.match(part.lower())
        labelled = labelled or (m is not None and ":" in part[: m.end()])
        if labelled and part.strip(" ."):
            said.append(part[m.end() :].strip(" .") if m is not None else part.strip(" ."))
            continue
        if (
            m is not None
            and part[m.end() :].strip()
            and not re.match(r"(?:more|less|longer)\b", part[m.end() :])
        ):
            said.append(part[m.end() :].strip(" ."))
        elif part:
            kept.append(part)
    return (", ".join(kept), ", ".join(said)) if said else (prompt, "")


# what a cue leaves of the picture it names: "of this photo", "on it", "to this one"
OF_PICTURE = re.compile(
    r"(?:(?:but|and|just|only) )?(?:(?:of|on|off|to|from|for|like|based on) )?"
    r"(?:(?:this|that|the|my|our|your|attached|given|uploaded|it|one|ones|image|picture|photo|photograph|"
    r"pic|shot|please|pls)(?![a-z0-9])[ ,.:]*){0,4}"
)
# the words left around a control cue once it, its kind, its family and its file are read out: "of this photo:
# a robot", "of but make it a jungle", "on to make a bridge", "CN", "( ), a house"
_DANGLING_WORDS = (
    r"but|and|of|on|from|to|with|using|use|via|for|as|cn|please|pls|follow|following|keep|keeping|kept|"
    r"preserved|intact|retained"
)
_DANGLING_LEAD = re.compile(
    rf"(?:[(\[][ ,]*[)\]]|->|=>|[-:,;>=!?+&]|(?:{_DANGLING_WORDS}|into|make it|make|turn it into|turn it|"
    r"then|turned into|turn into|turned to|guided|(?:an? |the )?(?:image|picture|photo|pic|render) of|"
    r"(?:an? |the )?(?:image|picture|photo|one) (?:that|which) (?:follows|keeps|matches|uses|has)"
    r")(?![a-z0-9])|"
    r"(?:prompt|subject|description|scene|model|(?:control )?image|reference|control ?net|kind|type|family)"
    r" ?[:=])[ ,.:=]*"
)
_DANGLING_TAIL = re.compile(rf"(?:^| )(?:[(\[][ ,]*[)\]]|[+&]|{_DANGLING_WORDS})[ ,.:]*$")
_INTO = re.compile(r"(?<![a-z0-9])(?:turned into|turn(?:ed)? it into|into|to make) ")
_PICTURE_WORD = re.compile(
    r"(?<![a-z0-9])(?:it|one|ones|image|picture|photo|photograph|pic|shot)(?![a-z0-9])"
)


def tidy_subject(text: str) -> str:
    """A prompt without the connecting words its cues left behind (see `_DANGLING_LEAD`); of "the house
    into a cottage", the target ("a cottage")."""
    target = [m.end() for m in _INTO.finditer(text.lower())]
    text = text[target[-1] :] if target else text
    for _ in range(8):  # bounded: each pass strips one word or one picture reference
        low = text.lower()
        m = _DANGLING_LEAD.match(low) or OF_PICTURE.match(low)
        if m is not None and not _DANGLING_LEAD.match(low) and not _PICTURE_WORD.search(low, 0, m.end()):
            m = None  # "the Eiffel tower": an article of the subject, not a picture named
        t = _DANGLING_TAIL.search(low)
        if m is not None and m.end():
            text = text[m.end() :].strip()
        elif t is not None:
            text = text[: t.start()].strip(" ,.:")
        else:
            break
    return text.strip(" ,.:;-")
