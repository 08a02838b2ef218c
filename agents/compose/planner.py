"""The deterministic planner: request text (+ the names of given input files) -> `Plan`.

The text is cut into clauses at chain words ("first ..., then ..., finally ...", sentence ends, ", and
animate ..."); each clause becomes an operation by the vocabulary's trigger phrases (`vocabulary.TRIGGERS`),
with its parameters (`extract`) and its inputs: a file the clause names, else the latest earlier step whose
output fits, else a given file. Input longer than `MAX_CHARS` is cut; every pattern is linear.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from pydantic import ValidationError

from agents.compose import extract
from agents.compose import vocabulary as vocab
from agents.compose.clauses import (
    _VERB_START,
    AGAIN,
    OF_PICTURE,
    _Clause,
    _File,
    clean,
    find_files,
    normalise,
    split_clauses,
    tidy_subject,
)
from agents.compose.draft import _State
from agents.compose.errors import PlanError
from agents.compose.extract import Found
from agents.compose.operations import OPERATIONS
from agents.compose.patterns import (
    _BARE_UPSCALE,
    _BG_REMOVAL,
    _FACTOR_UP,
    _FAMILIES,
    _FAMILY_USE,
    _GENERATE,
    _GROWTH,
    _GROWTH_NOUN,
    _IMAGE_NOUN,
    _IT,
    _MASK_FILL,
    _NEW_CLIP,
    _OBJECT_EDIT,
    _ORDER,
    _PLEASANT,
    _RESTYLE_LIKE,
    _RESTYLE_NAME,
    _SIDE_OF,
    _SIDE_PIXELS,
    _STYLE_REF,
    _TRIG,
    _V2V_MARKERS,
    _VARIATION,
    _VIDEO_NOUN,
)
from agents.compose.plan import MAX_STEPS, Plan
from agents.compose.steps import (
    StepBuilder,
    _clip_words,
    _kind_from_names,
)
from agents.compose.wiring import file_type

_NEVER = re.compile(r"(?!)")
_HAS_WORD = re.compile(r"[^\W_]")  # what is left names something (emoji and punctuation do not)
_CONTEXT = re.compile(r"^(?:" + vocab.phrase_body(vocab.CONTEXT_LEADS) + r")(?![a-z0-9])")
# "variaciones de esta foto", "Variationen von diesem Bild": the given picture named in another language
_LANG_PICTURE = re.compile(
    r"(?:(?:de|di|da|von|du|des|of|desta|deste|dessa|desse|della|dello) )?"
    r"(?:(?:" + vocab.phrase_body(vocab.LANG_THIS) + r")(?![a-z0-9])"
    r"|(?:cette|cet|ce|esta|este|esa|ese|questa|questo|dieses|diesem|dieser|esse|essa|dies)"
    r"(?: (?:foto|photo|imagen|imagem|immagine|image|bild|bildes))?(?![a-z0-9]))?"
)
_SIZE_WORD = re.compile(r"[248]k|uhd|full hd|hd")
# a thing that carries a quoted text ("a storefront with the sign "OPEN"") asks for it rendered; the noun is
# content, so the cue is zero-width and stays in the prompt
_TEXT_CARRIER = re.compile(
    r"(?=(?<![a-z0-9])(?:" + vocab.phrase_body(vocab.TEXT_CARRIERS) + r")(?![a-z0-9]))"
)
_EXTRA_CUES = {
    "upscale": _FACTOR_UP,
    "outpaint": _SIDE_PIXELS,
    "segment": _BG_REMOVAL,
    "render_text": _TEXT_CARRIER,
}


class Planner(StepBuilder):
    """Request text -> Plan. Stateless; `plan` is cheap (well under a millisecond per clause)."""

    def plan(
        self, text: str, files: Mapping[str, str] | Sequence[str] = (), *, loras: Collection[str] = ()
    ) -> Plan:
        """`loras`: the LoRA files the backend has, so a request naming one only by its file
        ("with add_detail.safetensors at 0.7") applies it like one that says "lora"."""
        raw, norm = normalise(text)
        if not raw:
            raise PlanError("the request is empty")
        found = find_files(raw)
        given = (
            {n: file_type(n) for n in files}
            if not isinstance(files, Mapping)
            else {
                n: {"image": "IMAGE", "video": "VIDEO", "mask": "MASK"}.get(k, file_type(n))
                for n, k in files.items()
            }
        )
        state = _State(
            files={**given, **{f.name: f.type for f in found if not f.name.endswith(".safetensors")}},
            loras=frozenset(n.replace("\\", "/").rsplit("/", 1)[-1].lower() for n in loras),
        )
        for clause in split_clauses(raw, norm, found):
            self._clause(state, clause)
            if len(state.steps) > MAX_STEPS:
                raise PlanError(f"the request asks for more than {MAX_STEPS} steps")
        if all(s["op"] == "lora" for s in state.steps):
            state.add("generate_image", {"prompt": clean(raw, norm, [])}, {}, "IMAGE", None)
        try:
            return Plan.model_validate({"steps": state.steps, "notes": state.notes})
        except ValidationError as exc:  # a request the planner cannot read into a valid plan: no plan
            raise PlanError(f"the request does not read as a plan of operations: {exc}") from exc

    # -- one clause -------------------------------------------------------------------------------------
    def _clause(self, st: _State, cl: _Clause) -> None:
        text = cl.norm
        short = len(_IMAGE_NOUN.sub(" ", _PLEASANT.sub(" ", text)).replace("@", " ").strip(" ,.-!?:")) < 3
        if short and not self._bare_upscale(st, cl):
            return  # "Hi!", "I have holiday.jpg", "Cheers": nothing to do ("2x" of a picture is an upscale)
        if not cl.files and _CONTEXT.match(text):
            return  # "I'm making a birthday card for my grandma.": what it is for, not a step
        if st.steps and cl.files and AGAIN.match(text) and self._again(st, cl):
            return
        if st.steps and not cl.files and self._settings(st, cl):
            return
        family = next((fam for fam, pat in _FAMILIES.items() if pat.search(text)), None)
        lora_m = _TRIG["lora"].search(text)
        known = [x for x in cl.files if x.name.lower() in st.loras]  # LoRA files named without the word
        drop: list[tuple[int, int]] = []
        if family is not None:  # "with flux", "using wan": a model choice, not picture content
            drop += [m.span() for m in _FAMILY_USE.finditer(text) if _FAMILIES[family].fullmatch(m.group(1))]
        if lora_m or known:
            f = Found()
            extract.lora(text, f)
            lora_file = next(
                (x.name for x in [*known, *cl.files] if x.name.lower().endswith(".safetensors")), None
            )
            params = {
                "name": lora_file or f.values["name"],
                **({"strength": f.values["strength"]} if "strength" in f.values else {}),
            }
            st.add("lora", params, {}, None, None)
            drop += [*f.spans, *([lora_m.span()] if lora_m else []), *((x.start, x.end) for x in known)]
            rest = clean(cl.raw, text, drop)
            if len(rest) < 3 or (_VERB_START.match(rest.lower()) and len(rest.split()) <= 2):
                return
        op, match = self._operation(st, cl)
        if match is not None:
            drop.append(match.span())
            if op not in ("edit", "video_to_video", "segment", "restyle", "vary"):
                drop += [x.span() for x in _TRIG[op].finditer(text)]
            elif op == "video_to_video":
                drop += [x.span() for x in _V2V_MARKERS.finditer(text)]
        getattr(self, f"_{op}")(st, cl, match, drop, family)

    def _settings(self, st: _State, cl: _Clause) -> bool:
        """A clause that only sets values of the step before ("make it 1024 by 1024", "at 16:9, seed 7"):
        they go to that step, which is not followed by an edit of the picture to "make it 1024x1024"."""
        found = Found()
        for read in (extract.image_size, extract.named_size, extract.orientation, extract.seed):
            read(cl.norm, found)
        last = st.steps[-1]
        if st.out_types[-1] == "VIDEO" or last["op"] == "generate_image":
            extract.clip_timing(cl.norm, found)
        timed = {"seconds", "fps", "frames"} & set(found.values)
        kind = [m.span() for m in _VIDEO_NOUN.finditer(cl.norm)] if last["op"] == "generate_image" else []
        if (kind or timed) and last["op"] == "generate_image" and _IT.search(cl.norm):
            return False  # "then a 3 second video of it": the picture is animated, an operation of its own
        if not (found.values or kind) or _HAS_WORD.search(
            clean(cl.raw, cl.norm, [*found.spans, *kind], verbs=True)
        ):
            return False
        if last["op"] == "generate_image" and (timed or kind):
            # "A cat on a beach!!! 5 sec video pls": the picture described is the clip asked for, not a still
            # to animate
            last["op"], st.out_types[-1] = "generate_video", "VIDEO"
        elif timed and st.out_types[-1] != "VIDEO":
            return False
        fields = OPERATIONS[last["op"]].params.model_fields
        last["params"].update({k: v for k, v in found.values.items() if k in fields})
        return True

    def _operation(self, st: _State, cl: _Clause) -> tuple[str, re.Match[str] | None]:
        text = cl.norm
        image_in = self._source(st, cl, ("IMAGE",)) is not None
        video_in = self._source(st, cl, ("VIDEO",)) is not None
        clause_images = [f for f in cl.files if f.type == "IMAGE"]
        # a mask file beside the picture: what the request does to it happens inside the mask
        masked = image_in and self._source(st, cl, ("MASK",)) is not None
        restyles = self._restyles(st, cl, image_in)
        named = restyles and _RESTYLE_NAME.search(text) is not None  # "img2img sketch.png": words win
        hinted = _kind_from_names(cl) is not None and _TRIG["edit"].search(text) is None and not named
        variation = _VARIATION.search(text)
        if variation is not None and image_in and not video_in and not _OBJECT_EDIT.search(text):
            return "vary", variation  # "4 variations of this photo", "riff on it": new pictures like it
        for op in _ORDER:
            if op == "control" and hinted and _TRIG["control"].search(text) is None:
                return "control", None
            m = _TRIG[op].search(text) or _EXTRA_CUES.get(op, _NEVER).search(text)
            if m is None and op == "upscale":
                m = self._bare_upscale(st, cl)  # "2x", "photo.png 2x", "bigger please" of a picture
            elif m is not None and op == "upscale" and _SIZE_WORD.fullmatch(m.group(0)) and not image_in:
                continue  # "a video of waves, 4k": the size of what is made, with nothing yet to enlarge
            if m is None and op == "outpaint" and image_in:
                m = self._growth(text)  # "more beach on both sides of photo.png"
            if m is None and op == "inpaint" and masked:
                m = _MASK_FILL.search(text) or _OBJECT_EDIT.search(text)  # "fill the white area of mask.png"
            if op == "restyle" and m is None and restyles and image_in:
                m = _RESTYLE_LIKE.search(text)  # "redraw photo.png in the style of Monet"
                if m is not None and (
                    _OBJECT_EDIT.search(text)
                    or (_GENERATE.search(text) and not clause_images and not _IT.search(text))
                ):
                    continue  # "remove the car ...", "paint a harbour in the style of Monet": not a restyle
            if m is None:
                continue
            if op == "style" and not self._style_reference(cl, m, clause_images):
                continue  # "in the style of Monet" is part of the prompt; "make photo.png look like ..."
            if op == "control" and (named or not (clause_images or st.last(("IMAGE",)) or image_in)):
                continue
            if op == "restyle" and not restyles:
                continue
            if op == "render_text" and extract.quoted_text(cl.raw, text) is None:
                continue
            if op == "video_to_video" and not video_in:
                continue
            first_or_image = not st.steps or st.out_types[-1] == "IMAGE"
            if op in ("edit", "image_to_video") and image_in and first_or_image and _clip_words(text):
                return "image_to_video", m  # "create a video from this still", "make the waterfall flow, 8 s"
            if op == "edit" and not image_in:
                continue
            if op == "interpolate" and not video_in:
                continue  # "a slow motion shot of ..." describes a clip to generate
            if op == "join" and self._clips(st, cl) < 2:
                continue
            if op == "image_to_video" and video_in and not image_in:
                continue  # "restyle this video as an animation": the clip is the input
            return op, m
        if any(f.type == "VIDEO" for f in cl.files):
            return "video_to_video", None
        if st.steps and not clause_images and _NEW_CLIP.match(text) and not _IT.search(text):
            return "generate", None  # "a picture of a dog and a video of a cat": a second, new output
        if (
            image_in
            and _clip_words(text)
            and (not st.steps or (_VIDEO_NOUN.search(text) and st.out_types[-1] == "IMAGE"))
        ):
            return "image_to_video", None  # "from this still, a 3 second video of steam rising"
        if not st.steps and not clause_images and image_in and not _GENERATE.search(text):
            # a request that gives a picture and asks no operation by name is about that picture
            return ("inpaint", None) if st.given(("MASK",)) else ("edit", None)
        if not st.steps and video_in and not _GENERATE.search(text):
            return "video_to_video", None
        if clause_images:
            return ("inpaint", None) if masked else ("edit", None)
        last = st.steps[-1] if st.steps else None
        if (
            last
            and last["op"] in ("style", "control")
            and not last["params"].get("prompt")
            and _GENERATE.search(text)
        ):
            return "generate", None  # the subject of a style / control step said after it
        if st.steps and st.out_types[-1] is not None and _VERB_START.match(text):
            return ("edit", None) if st.out_types[-1] == "IMAGE" else ("video_to_video", None)
        return "generate", None

    def _vary(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        """New pictures like a given one: an image-prompt step (`style`) on SD 2.1 unCLIP, which samples from
        the picture's image embedding; the composer takes another family's image-prompt fragment (Flux Redux)
        when the backend has no unCLIP. Words left beside the cue steer it ("... but at night")."""
        text = cl.norm
        found = Found()
        for read in (extract.batch, extract.seed, extract.image_size):
            read(text, found)
        # the words after the last cue steer it ("... in a warmer palette"); those before ask ("can you make")
        cut = [x.end() for x in _VARIATION.finditer(text)][-1] if m is not None else 0
        keep = [(s - cut, e - cut) for s, e in [*drop, *found.spans] if s >= cut]
        prompt = clean(cl.raw[cut:], text[cut:], keep)
        prompt = tidy_subject(prompt[OF_PICTURE.match(prompt.lower()).end() :])  # type: ignore[union-attr]
        prompt = prompt[_LANG_PICTURE.match(prompt.lower()).end() :].strip(" ,.")  # type: ignore[union-attr]
        prompt = prompt if _HAS_WORD.search(prompt) else ""  # "VARIATIONS OF THIS PHOTO!!!"
        ref = self._source(st, cl, ("IMAGE",))
        st.add(
            "style",
            {"prompt": prompt, **found.values},
            {"reference": ref} if ref else {},
            "IMAGE",
            family or "sd21_unclip",
        )
        st.notes.append(f"variations of {ref}: new pictures sampled from its image embedding")

    def _again(self, st: _State, cl: _Clause) -> bool:
        """The step before, again, on the file this clause names ("a 3 s clip from a.png and another from
        b.png"): same operation and parameters, the file in place of the input of its type."""
        last = st.steps[-1]
        spec = OPERATIONS[last["op"]]
        named = cl.files[0]
        port = next(
            (
                p
                for p, ref in last["inputs"].items()
                if isinstance(ref, str) and file_type(ref) == named.type and p in spec.inputs
            ),
            None,
        )
        if port is None:
            return False
        st.add(
            last["op"],
            dict(last["params"]),
            {**last["inputs"], port: named.name},
            st.out_types[-1],
            last.get("family"),
        )
        return True

    def _bare_upscale(self, st: _State, cl: _Clause) -> re.Match[str] | None:
        """A clause that is only a factor or "bigger" ("2x", "photo.png x4 please"), with a picture to
        enlarge (named here, given, or made by the step before)."""
        if self._source(st, cl, ("IMAGE", "VIDEO")) is None:
            return None
        return _BARE_UPSCALE.match(cl.norm.replace("@", " ").strip(" ,:"))

    def _growth(self, text: str) -> re.Match[str] | None:
        """More of the picture beyond an edge, not something placed beside a thing inside it: "lamps on both
        sides of the door", "add more trees on the left" (an object edit, no scene word) are edits."""
        m = _GROWTH.search(text)
        if m is None:
            return None
        side_of = _SIDE_OF.match(text, m.end())  # (a file named there is masked: no match, so no edit)
        what = side_of["what"] if side_of else None
        if what and not (_GROWTH_NOUN.fullmatch(what) or _IMAGE_NOUN.fullmatch(what)):
            return None
        edit = _OBJECT_EDIT.search(text, 0, m.start())
        if edit and not _GROWTH_NOUN.search(text, edit.end(), m.end()):
            return None
        return m

    def _restyles(self, st: _State, cl: _Clause, image_in: bool) -> bool:
        """A restyle reads a picture: not a clip the clause names or the step before made (video_to_video);
        its name alone ("restyle", "img2img") asks for a picture the request may still have to give."""
        if any(f.type == "IMAGE" for f in cl.files):
            return True
        if any(f.type == "VIDEO" for f in cl.files) or (st.steps and st.out_types[-1] == "VIDEO"):
            return False
        if image_in:
            return True
        return _RESTYLE_NAME.search(cl.norm) is not None and self._source(st, cl, ("VIDEO",)) is None

    def _style_reference(self, cl: _Clause, m: re.Match[str], images: Sequence[_File]) -> bool:
        """A style step needs a reference picture: one named after the cue ("in the style of ref.png"), or
        one named before it that the clause calls a reference (or beside the picture restyled)."""
        if any(f.start > m.start() for f in images):
            return True
        return bool(images) and (len(images) > 1 or _STYLE_REF.search(cl.norm) is not None)


def plan_request(
    text: str, files: Mapping[str, str] | Sequence[str] = (), *, loras: Collection[str] = ()
) -> Plan:
    """The Plan for a request (see `Planner`)."""
    return Planner().plan(text, files, loras=loras)
