"""The compiled patterns the step builder reads clauses with (all linear-time: no nested quantifiers)."""

from __future__ import annotations

import re

from agents.compose import vocabulary as vocab

_TRIG = {op: vocab.phrase_pattern(phrases) for op, phrases in vocab.TRIGGERS.items()}
_ORDER = [
    "join",
    "interpolate",
    "face_detail",
    "segment",
    "inpaint",
    "outpaint",
    "upscale",
    "control",
    "style",
    "render_text",
    "image_to_video",
    "restyle",
    "video_to_video",
    "edit",
]
# a video noun, unless it starts a look ("film grain", "short hair"): those describe a picture
_VIDEO_NOUN = re.compile(
    rf"(?<![a-z0-9])(?!(?:{vocab.phrase_body(vocab.NOT_VIDEO)})(?![a-z0-9]))"
    rf"(?:{vocab.phrase_body(vocab.VIDEO_NOUNS)})(?![a-z0-9])"
)
_IMAGE_NOUN = vocab.phrase_pattern(vocab.IMAGE_NOUNS)
_KINDS = {kind: vocab.phrase_pattern(words) for kind, words in vocab.CONTROL_KINDS.items()}
_MAPS = vocab.phrase_pattern(vocab.MAP_WORDS)
_VARIATION = vocab.phrase_pattern(vocab.VARIATION_WORDS)
_UP_MODEL = vocab.phrase_pattern(vocab.UPSCALE_MODEL_WORDS)
_UP_RESAMPLE = vocab.phrase_pattern(vocab.UPSCALE_RESAMPLE_WORDS)
_SUBTLE = vocab.phrase_pattern(vocab.SUBTLE_WORDS)
_STRONG = vocab.phrase_pattern(vocab.STRONG_WORDS)
_FAMILIES = {fam: vocab.phrase_pattern(words) for fam, words in vocab.FAMILY_WORDS.items()}
_IT = re.compile(r"(?<![a-z0-9])(?:it|this|that|the result|the image|the picture|the photo|them)(?![a-z0-9])")
# "2x resolution", "3x bigger", "4 times larger": a factor is an upscale even without the word
_FACTOR_UP = re.compile(
    r"(?<![a-z0-9.])\d(?:\.\d{1,2})? ?(?:x|times) (?:the )?"
    r"(?:resolution|res|size|bigger|larger|sharper|upscale)(?![a-z0-9])"
)
# a clause that is only a factor or "bigger" ("2x", "x4 please", "bigger"): with a picture given, an upscale
_BARE_UPSCALE = re.compile(
    r"^(?:\d(?:\.\d{1,2})? ?(?:x|times)|x ?\d(?:\.\d{1,2})?|bigger|larger|hi-?res|higher res(?:olution)?)"
    r"(?: (?:please|pls|thanks|thank you))?[ .!]*$"
)
# "remove the background" with nothing after it: a cut-out (segmentation), not an edit that repaints it
_BG_REMOVAL = re.compile(
    r"(?<![a-z0-9])(?:remove|delete|erase|drop|strip) (?:the )?(?:background|bg)"
    r"(?: (?:from|of|in|on) (?:it|this|that|the (?:image|photo|picture)|@+))?[ .!]*$"
)
# "300 more pixels of beach on the left side": pixels on a side are an outpaint even without the word
_SIDE_PIXELS = re.compile(
    r"(?<![a-z0-9.])\d{1,4} ?(?:more )?(?:px|pixels?)(?: [^ ]+){0,4} (?:on|to|at|along) (?:the )?"
    r"(?:left|right|top|bottom)(?![a-z0-9])"
)
_GROWTH = vocab.phrase_pattern(vocab.PICTURE_GROWTH)
_MASK_FILL = vocab.phrase_pattern(vocab.MASK_FILL)
_GROWTH_NOUN = vocab.phrase_pattern(vocab.GROWTH_NOUNS)
# what fills the new canvas: "with more forest", "more sand and sea on both sides" (bounded, lazy: linear)
_GROWN = re.compile(
    r"(?<![a-z0-9])(?:with|more)(?: more| some)?(?: of)?(?: the)? (?P<what>[a-z][a-z ,'-]{1,60}?)"
    r"(?= (?:on|to|at|above|below|along|around|in)(?![a-z])|[,.]|$)"
)
# growth words that say how much, not what: no prompt of their own
_NO_CONTENT = re.compile(
    r"(?:the )?(?:picture|image|photo|canvas|space|room|headroom|frame|it|this|the rest|scene|scenery|view)s?"
)
# "..., and a video of a cat / of waves": a clip of a new subject (no "the", "it", "that" ...), not the
# step before animated
_NEW_CLIP = re.compile(
    r"^(?:and |also |then )?(?:(?:make|generate|create|render|produce|give)(?: me)? )?(?:a|an|one|another) "
    r"(?:[a-z0-9-]+ ){0,3}?(?:video|clip|animation|movie|film|gif)s? (?:of|showing|with) "
    r"(?!(?:the|it|this|that|them|these|those|his|her|their|its|my|our|your|same)(?![a-z]))[a-z0-9]"
)
_SIDE_OF = re.compile(r" of (?:the |a |an |his |her |their )?(?P<what>[a-z0-9_.-]+)")
# "remove the car", "get rid of the sign": the marked thing goes, and the surroundings fill its place
_REMOVAL = re.compile(
    r"(?<![a-z0-9])(?:remov\w*|eras\w*|delet\w*|get rid of|take out|take away|wipe\w*|edit out|clear away)"
    r"(?![a-z0-9]) ?"
)
_MAP_NAME = re.compile(r"(?:map|openpose|skeleton|canny|edges)")
_GENERATE = re.compile(
    r"^(?:please |pls |can you |could you )?(?:generate|create|draw|paint|render|produce|design|illustrate|"
    r"make (?:me )?(?:a|an|some)|give me (?:a|an|some)|show me (?:a|an|some)|i want (?:a|an|some)|a|an)"
    r"(?![a-z0-9])"
)
_NEGATIVE = re.compile(
    r"^(?:avoid|exclude|excluding|negative(?: prompt)?|no|without|don't include|do not include|never show)"
    r"(?![a-z0-9])[ :]*"
)
_LABELS = re.compile(
    r"(?<![a-z0-9])(?:duration|length|resolution|size|frame rate|framerate|fps|seed)(?![a-z0-9])[ :,]*", re.I
)
_DESCRIBED = {
    "generate_image",
    "generate_video",
    "control",
    "style",
    "render_text",
    "image_to_video",
    "inpaint",
}
_PLEASANT = vocab.phrase_pattern(vocab.PLEASANTRIES)
_FAMILY_USE = re.compile(
    r"(?<![a-z0-9])(?:(?:with|using|via|on|in|through) (?:the )?)?("
    + vocab.phrase_body([w for words in vocab.FAMILY_WORDS.values() for w in words])
    + r")(?: model)?(?![a-z0-9])"
)
_TO_FPS = re.compile(r"(?<![a-z0-9.])(?:to|at) (\d{2,3}) ?fps(?![a-z0-9])")
_V2V_MARKERS = vocab.phrase_pattern(vocab.V2V_MARKERS)
_WITH = re.compile(r"(?<![a-z0-9])(?:with|into|by) ")
# restyle: its names ("restyle", "img2img") win over a file name's hint and over a control cue; a look said of
# a given picture ("in the style of Monet", "look like a watercolor") restyles it unless the clause edits an
# object; a file before a style cue is its reference only when the clause says so
_RESTYLE_NAME = vocab.phrase_pattern(vocab.SLOTS["restyle_name"])
_RESTYLE_LIKE = vocab.phrase_pattern(vocab.RESTYLE_LIKE)
_LOOK = vocab.phrase_pattern(vocab.SLOTS["look"])
_OBJECT_EDIT = vocab.phrase_pattern(vocab.OBJECT_EDITS)
_STYLE_REF = vocab.phrase_pattern(vocab.STYLE_REFERENCE_WORDS)
# what a restyle prompt keeps of the picture's name: "the picture as anime" -> "anime"
_PICTURE = re.compile(
    r"^(?:(?:the|this|that|my|our|your|attached|given) ){0,3}"
    r"(?:(?:image|picture|photo|photograph|pic|shot|selfie|one)(?: (?:as|into|to|like|in))? "
    r"|(?:as|into|to|like) )",
    re.I,
)


# the words that lead a restyle cue to its look ("turn it into | a watercolor")
_CONNECTOR = re.compile(r"(?<![a-z0-9])(?:into|as|like|look|in|to)(?![a-z0-9])")
