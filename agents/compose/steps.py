"""How each operation's step is built from one clause: its parameters, its prompt and its inputs (a file the
clause names, else the latest earlier step whose output fits, else a given file). `Planner` (planner.py) picks
the operation; `StepBuilder` here writes the step."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agents.compose import extract
from agents.compose.clauses import _VERB_START, _Clause, clean, split_negative, tidy_subject
from agents.compose.draft import _State
from agents.compose.extract import Found
from agents.compose.operations import OPERATIONS
from agents.compose.patterns import (
    _CONNECTOR,
    _DESCRIBED,
    _GENERATE,
    _GROWN,
    _IMAGE_NOUN,
    _IT,
    _KINDS,
    _LABELS,
    _LOOK,
    _MAP_NAME,
    _MAPS,
    _NEGATIVE,
    _NO_CONTENT,
    _PICTURE,
    _REMOVAL,
    _STRONG,
    _SUBTLE,
    _TO_FPS,
    _TRIG,
    _UP_MODEL,
    _UP_RESAMPLE,
    _V2V_MARKERS,
    _VIDEO_NOUN,
    _WITH,
)
from agents.compose.plan import IMPLICIT_SOURCE_NOTE

_PROMPT_QUOTED = re.compile(r"(?i)(?<![a-z])prompt ?[:=]? ?\"([^\"]{1,400})\"")
_EDIT_LABEL = re.compile(r"^(?:(?:an? )?image )?edit(?:ing)? ?[:=-] ?", re.I)


class StepBuilder:
    """The per-operation step writers (one method per operation, named after it)."""

    def _source(self, st: _State, cl: _Clause, types: Sequence[str], skip: Sequence[str] = ()) -> str | None:
        for f in cl.files:
            if f.type in types and f.name not in skip:
                return f.name
        return st.last(types) or st.given(types)

    def _clips(self, st: _State, cl: _Clause) -> int:
        earlier = sum(1 for i, t in enumerate(st.out_types) if t == "VIDEO" and i not in st.consumed)
        named = [f.name for f in cl.files if f.type == "VIDEO"]
        given = [n for n, t in st.files.items() if t == "VIDEO" and n not in st.used and n not in named]
        return earlier + len(named) + len(given)

    def _ensure(
        self,
        st: _State,
        cl: _Clause,
        types: Sequence[str],
        drop: list[tuple[int, int]],
        family: str | None,
        skip: Sequence[str] = (),
    ) -> str | None:
        """The step's input; when the request has none, a generation from the clause's words comes first."""
        ref = self._source(st, cl, types, skip)
        if ref is not None:
            return ref
        prompt = clean(cl.raw, cl.norm, drop)
        if not prompt:
            return None
        video = "IMAGE" not in types
        found = Found()
        (extract.clip_timing if video else extract.image_size)(cl.norm, found)
        st.add(
            "generate_video" if video else "generate_image",
            {"prompt": prompt, **found.values},
            {},
            "VIDEO" if video else "IMAGE",
            family,
        )
        st.notes.append(f"{IMPLICIT_SOURCE_NOTE}: {prompt!r}")
        return f"#{len(st.steps)}"

    # -- operations -------------------------------------------------------------------------------------
    def _generate(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        text = cl.norm
        found = Found()
        timing = Found()
        extract.clip_timing(text, timing)
        nouns = _VIDEO_NOUN.search(text) is not None and _IMAGE_NOUN.search(text) is None
        video = nouns or bool(timing.values)  # a picture has no duration: "5 seconds, 24 fps" is a clip
        if video:
            found = timing
        extract.image_size(text, found)
        extract.named_size(text, found)
        extract.orientation(text, found)
        extract.seed(text, found)
        if not video:
            extract.batch(text, found)
        prompt = clean(cl.raw, text, [*drop, *found.spans])
        if not prompt and not found.values:
            return
        continued = (
            not _VERB_START.match(text) and not _VIDEO_NOUN.search(text) and not _IMAGE_NOUN.search(text)
        )
        last = st.steps[-1] if st.steps else None
        if (
            last is not None
            and last["op"] in ("style", "control")
            and not last["params"].get("prompt")
            and prompt
        ):
            last["params"]["prompt"] = prompt  # "in the style of a.png, paint a harbour"
            return
        if last is not None and continued and last["op"] in _DESCRIBED:
            # a description continued in the next sentence ("edges from a.png -> a gingerbread house",
            # "Duration 5s, 24fps, 1280x720.", "Avoid blurry frames.")
            if last["op"] == "generate_image" and {"seconds", "fps", "frames"} & set(found.values):
                last["op"], st.out_types[-1] = "generate_video", "VIDEO"  # "A fox in snow. 5 seconds."
            fields = OPERATIONS[last["op"]].params.model_fields
            for key, value in found.values.items():
                if key in fields:
                    last["params"].setdefault(key, value)
            negative = _NEGATIVE.match(prompt.lower())
            if negative:
                before = str(last["params"].get("negative_prompt") or "")
                said = prompt[negative.end() :].strip(" .,")
                last["params"]["negative_prompt"] = f"{before}, {said}" if before else said
                return
            prompt = _LABELS.sub("", prompt).strip(" ,.:")
            if prompt:
                before = str(last["params"].get("prompt") or "")
                last["params"]["prompt"] = f"{before}, {prompt}" if before else prompt
            return
        prompt, unwanted = split_negative(prompt)
        if not prompt:
            if unwanted and last is None:
                st.unwanted = unwanted  # "negative prompt: ugly, deformed." said first: the next picture's
            return
        op = "generate_video" if video else "generate_image"
        extra = {"negative_prompt": unwanted} if unwanted else {}
        st.add(op, {"prompt": prompt, **found.values, **extra}, {}, "VIDEO" if video else "IMAGE", family)

    def _edit(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        image = self._source(st, cl, ("IMAGE",))
        instruction = clean(cl.raw, cl.norm, [s for s in drop if m is None or s != m.span()], leads=False)
        instruction = _EDIT_LABEL.sub("", instruction)  # "qwen image edit: make the sky purple"
        inputs: dict[str, Any] = {"image": image} if image else {}
        others = [f.name for f in cl.files if f.type == "IMAGE" and f.name != image]
        if others:
            inputs["reference"] = others[0]
        found = Found()
        extract.seed(cl.norm, found)
        st.add(
            "edit",
            {"instruction": instruction or "improve the picture", **found.values},
            inputs,
            "IMAGE",
            family,
        )

    def _restyle(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        text = cl.norm
        found = Found()
        extract.denoise(text, found)
        extract.seed(text, found)
        # the cue's verb goes, its look stays the prompt: "turn it into a watercolor" -> "a watercolor"
        heads = []
        for x in _TRIG["restyle"].finditer(text):
            verb_end = text.find(" ", x.start(), x.end())  # "re-style" is a name, not the look "style"
            looks = [k.start() for k in _LOOK.finditer(text, x.end() if verb_end < 0 else verb_end, x.end())]
            ends = [
                c.end()
                for c in _CONNECTOR.finditer(text, x.start(), x.end())
                if looks and looks[-1] > c.end()
            ]
            heads.append((x.start(), ends[-1] if ends else looks[0] if looks else x.end()))
        keep = [s for s in drop if m is None or s != m.span()]
        prompt = _PICTURE.sub("", clean(cl.raw, text, [*keep, *heads, *found.spans]))
        if "denoise" not in found.values and (_SUBTLE.search(text) or _STRONG.search(text)):
            found.values["denoise"] = 0.4 if _SUBTLE.search(text) else 0.8
        image = self._source(st, cl, ("IMAGE",))
        st.add(
            "restyle", {"prompt": prompt, **found.values}, {"image": image} if image else {}, "IMAGE", family
        )

    def _inpaint(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        image = self._ensure(st, cl, ("IMAGE",), drop, family)
        mask = self._source(st, cl, ("MASK",))
        prompt = clean(cl.raw, cl.norm, drop)
        what = _WITH.search(prompt.lower())
        params: dict[str, Any] = {"prompt": prompt[what.end() :] if what else prompt}
        if what is None and _REMOVAL.search(cl.norm):
            # nothing named to put there: describe the surroundings, and keep the removed thing out
            verb = _REMOVAL.search(prompt.lower())
            gone = prompt[verb.end() :] if verb else prompt
            gone = re.sub(r"(?i)\b(?:marked|masked|selected|shown|highlighted|in the mask)\b.*$", "", gone)
            params = {"prompt": "the surrounding background, seamless, nothing there"}
            if gone.strip(" ,."):
                params["negative_prompt"] = gone.strip(" ,.")
        inputs = {k: v for k, v in (("image", image), ("mask", mask)) if v}
        st.add("inpaint", params, inputs, "IMAGE", family)

    def _outpaint(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        found = Found()
        extract.sides(cl.norm, found)
        image = self._ensure(st, cl, ("IMAGE",), [*drop, *found.spans], family)
        what = _GROWN.search(cl.norm)  # "with more forest", "more sand and sea on both sides"
        if what and not _NO_CONTENT.fullmatch(what["what"]):
            found.values["prompt"] = what["what"]
        st.add("outpaint", found.values, {"image": image} if image else {}, "IMAGE", family)

    def _upscale(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        found = Found()
        extract.factor(cl.norm, found)
        extract.target_size(cl.norm, found)
        if "width" in found.values or "height" in found.values:
            found.values.pop("factor", None)
        if _UP_MODEL.search(cl.norm):
            found.values["method"] = "model"
        elif _UP_RESAMPLE.search(cl.norm):
            found.values["method"] = "resample"
        src = self._ensure(st, cl, ("IMAGE", "VIDEO"), [*drop, *found.spans], family)
        out = (
            "VIDEO"
            if src
            and (
                (src.startswith("#") and st.out_types[int(src[1:]) - 1] == "VIDEO")
                or (not src.startswith("#") and st.files.get(src) == "VIDEO")
            )
            else "IMAGE"
        )
        st.add("upscale", found.values, {"image": src} if src else {}, out, None)

    def _control(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        text = cl.norm
        found = Found()
        named = extract.control_kind(text, found)
        kind = (
            named
            or next((k for k, pat in _KINDS.items() if pat.search(text)), None)
            or _kind_from_names(cl)
            or "canny"
        )
        ref = next((f.name for f in cl.files if f.type == "IMAGE"), None) or self._source(st, cl, ("IMAGE",))
        extract.strength(text, found)
        extract.image_size(text, found)
        quoted = _PROMPT_QUOTED.search(cl.raw)  # 'prompt "a cozy reading nook"': said as a field
        prompt = quoted[1].strip() if quoted else self._subject(cl, m, [*drop, *found.spans], tidy=True)
        params: dict[str, Any] = {"kind": kind, "prompt": prompt, **found.values}
        if named is None and family is not None:
            params["kind_guessed"] = True  # a named family's own ControlNet (another kind) may take its place
        if _MAPS.search(text) or any(_MAP_NAME.search(f.name.lower()) for f in cl.files):
            params["preprocessed"] = True
        st.add("control", params, {"reference": ref} if ref else {}, "IMAGE", family)

    def _style(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        images = [f for f in cl.files if f.type == "IMAGE"]
        after = [f for f in images if m is not None and f.start >= m.start()]
        ref = (after or images)[0].name
        inputs: dict[str, Any] = {"reference": ref}
        content = [f.name for f in images if f.name != ref]
        found = Found()
        extract.strength(cl.norm, found)
        prompt = self._subject(cl, m, [*drop, *found.spans])
        if content:
            inputs["image"] = content[0]
        elif st.last(("IMAGE",)) and (not prompt or _IT.search(cl.norm[: m.start()] if m else "")):
            inputs["image"] = st.last(("IMAGE",))
        st.add("style", {"prompt": prompt, **found.values}, inputs, "IMAGE", family)

    def _render_text(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        said = extract.quoted_text(cl.raw, cl.norm)
        assert said is not None
        text, span = said
        found = Found()
        for read in (extract.image_size, extract.named_size, extract.orientation, extract.seed):
            read(cl.norm, found)
        prompt = clean(cl.raw, cl.norm, [*drop, span, *found.spans])
        inputs: dict[str, Any] = {}
        image = next((f.name for f in cl.files if f.type == "IMAGE"), None)
        if image is None and st.last(("IMAGE",)) and _IT.search(cl.norm):
            image = st.last(("IMAGE",))
        if image is None and (_IT.search(cl.norm) or not _GENERATE.search(cl.norm)):
            image = st.given(("IMAGE",))  # 'write "SALE" on the picture' with a picture given: on that one
        if image:
            inputs["image"] = image
        st.add("render_text", {"text": text, "prompt": prompt, **found.values}, inputs, "IMAGE", family)

    def _image_to_video(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        found = Found()
        extract.clip_timing(cl.norm, found)
        extract.image_size(cl.norm, found)
        extract.named_size(cl.norm, found)
        extract.orientation(cl.norm, found)
        image = self._ensure(st, cl, ("IMAGE",), [*drop, *found.spans], None)
        prompt = clean(cl.raw, cl.norm, [*drop, *found.spans]) if image else ""
        if image and image.startswith("#"):
            # a clip of what an earlier step made: its description says what moves
            prompt = ", ".join(p for p in (st.described(image), prompt) if p)
        params = {"prompt": prompt, **found.values} if prompt else dict(found.values)
        st.add("image_to_video", params, {"image": image} if image else {}, "VIDEO", family)

    def _video_to_video(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        video = self._source(st, cl, ("VIDEO",))
        keep = [s for s in drop if m is None or s != m.span() or _V2V_MARKERS.fullmatch(m.group(0))]
        prompt = clean(cl.raw, cl.norm, keep)
        params: dict[str, Any] = {"prompt": prompt}
        if _SUBTLE.search(cl.norm):
            params["denoise"] = 0.4
        elif _STRONG.search(cl.norm):
            params["denoise"] = 0.8
        st.add("video_to_video", params, {"video": video} if video else {}, "VIDEO", family)

    def _interpolate(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        found = Found()
        extract.factor(cl.norm, found)
        video = self._ensure(st, cl, ("VIDEO",), drop, family)
        mult = int(float(str(found.values.get("factor") or 2)))
        to_fps = _TO_FPS.search(cl.norm)
        if to_fps and video and video.startswith("#"):
            src_fps = st.steps[int(video[1:]) - 1]["params"].get("fps") or 24
            mult = max(2, round(float(to_fps.group(1)) / float(src_fps)))
        st.add(
            "interpolate",
            {"multiplier": min(max(mult, 2), 8)},
            {"video": video} if video else {},
            "VIDEO",
            None,
        )

    def _face_detail(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        image = self._ensure(st, cl, ("IMAGE",), drop, family)
        st.add("face_detail", {}, {"image": image} if image else {}, "IMAGE", None)

    def _segment(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        target = clean(cl.raw[m.end() :], cl.norm[m.end() :], []) if m else ""
        image = self._ensure(st, cl, ("IMAGE",), drop, family)
        target = re.sub(r"^(?:the|a|an|out) ", "", target.lower())[:100]
        st.add("segment", {"target": target or "subject"}, {"image": image} if image else {}, "IMAGE", None)

    def _join(
        self,
        st: _State,
        cl: _Clause,
        m: re.Match[str] | None,
        drop: list[tuple[int, int]],
        family: str | None,
    ) -> None:
        refs = [f.name for f in cl.files if f.type == "VIDEO"]
        if len(refs) < 2:  # "join it with outro.mp4", "join them": earlier clips first, then given ones
            earlier = [
                f"#{i + 1}" for i, t in enumerate(st.out_types) if t == "VIDEO" and i not in st.consumed
            ]
            given = [n for n, t in st.files.items() if t == "VIDEO" and n not in st.used and n not in refs]
            refs = earlier + refs + (given if len(earlier) + len(refs) < 2 else [])
        st.add("join", {}, {"videos": refs} if refs else {}, "VIDEO", None)

    def _subject(
        self, cl: _Clause, m: re.Match[str] | None, drop: list[tuple[int, int]], tidy: bool = False
    ) -> str:
        """The prompt of a step whose trigger sits mid-clause: the words before it, else after it. `tidy`:
        without the words left around the cues read out ("of this photo:", "but make it", "(canny)")."""
        if m is None:
            return tidy_subject(clean(cl.raw, cl.norm, drop)) if tidy else clean(cl.raw, cl.norm, drop)
        before = clean(cl.raw[: m.start()], cl.norm[: m.start()], [s for s in drop if s[1] <= m.start()])
        before = tidy_subject(before) if tidy else before
        if before:
            return re.sub(r"(?i)\b(?:in|with|using|use|keeping|keep|and)$", "", before).strip(" ,")
        after = [(s - m.end(), e - m.end()) for s, e in drop if s >= m.end()]
        rest = clean(cl.raw[m.end() :], cl.norm[m.end() :], after)
        return tidy_subject(rest) if tidy else rest


def _clip_words(text: str) -> bool:
    return bool(_VIDEO_NOUN.search(text) or extract._SECONDS.search(text) or extract._FPS.search(text))


def _kind_from_names(cl: _Clause) -> str | None:
    """A reference named like a control image ("sketch.png", "pose_map.jpg") tells the control kind."""
    for f in cl.files:
        if f.type != "IMAGE":
            continue
        stem = " ".join(re.split(r"[^a-z0-9]+", f.name.lower().rsplit(".", 1)[0]))
        for kind, pattern in _KINDS.items():
            if pattern.search(stem):
                return kind
    return None
