"""The composer: a Plan -> ONE graph, chaining each step's fragment by the types of its ports.

Step level: a graph of typed ports (request files and step outputs feed step inputs); a port takes
only a source of a type it accepts (`PortMismatch` otherwise). Node level: each step's fragment is placed in
one `LinkList`, its open ports linked to their sources, identical loaders shared, every link's types checked
against the catalog. What no usable fragment can do is `MissingCapability`, never another operation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.compose import graphs
from agents.compose.errors import MissingCapability, PlanError, PortMismatch
from agents.compose.fragments import Fragment, FragmentLibrary
from agents.compose.operations import OPERATIONS, InputPort
from agents.compose.plan import Plan, Step, step_ref
from agents.compose.wiring import Fps, Source, file_source, file_type, frames_for, native_scale, save_sinks
from agents.defaults import picture_size
from agents.errors import InputRequiredError
from node_catalog import Catalog
from node_catalog.digraph import Digraph
from node_catalog.files import required_files
from node_catalog.linklist import LinkList, linklist_to_api

_KIND_TYPE = {"image": "IMAGE", "video": "VIDEO", "mask": "MASK"}


@dataclass
class Composition:
    link_list: LinkList
    workflow: dict[str, dict[str, Any]]  # API form
    plan: Plan
    fragments: list[str]
    models: dict[str, list[str]]  # model folder -> files the graph needs
    input_files: list[str]
    outputs: list[str]  # output node names
    notes: list[str] = field(default_factory=list)


def plan_graph(plan: Plan, files: Mapping[str, str]) -> Digraph[Any]:
    """Typed step graph: nodes are files ("file:x.png") and steps (0, 1, ...); edges carry port and type."""
    g: Digraph[Any] = Digraph()
    for name, ptype in files.items():
        g.add_node(f"file:{name}", type=ptype)
    for idx, step in enumerate(plan.steps):
        g.add_node(idx, op=step.op)
        for port in step.inputs:
            for ref in step.refs(port):
                n = step_ref(ref)
                g.add_edge(f"file:{ref}" if n is None else n, idx, port=port)
    return g


class Composer:
    def __init__(
        self,
        catalog: Catalog,
        *,
        models: Mapping[str, Sequence[str]] | None = None,
        library: FragmentLibrary | None = None,
    ) -> None:
        self._sizes: dict[int, tuple[int, int]] = {}
        self.catalog = catalog
        self.models = models
        self.library = library or FragmentLibrary.bundled()

    # -- choosing ---------------------------------------------------------------------------------------
    def variant(self, step: Step) -> str | None:
        if step.op == "control":
            kind = str(step.params.get("kind", "canny"))
            return f"{kind}_map" if step.params.get("preprocessed") and kind != "scribble" else kind
        if step.op == "upscale":
            method = step.params.get("method")
            if method is None:
                has_model = bool((self.models or {}).get("upscale_models"))
                method = "model" if has_model else "resample"
            to = "width" in step.params or "height" in step.params
            return f"{method}_{'to' if to else 'by'}"
        return None

    def choose(self, step: Step, ports: Sequence[str]) -> Fragment:
        variant = self.variant(step)
        size = self._sizes.get(id(step))
        found = self.library.candidates(
            step.op,
            self.catalog,
            ports=ports,
            variant=variant,
            family=step.family,
            models=self.models,
            size=size,
        )
        if step.op == "control" and step.family is not None and (not found or found[0].family != step.family):
            own = self._family_control(step, ports, size)
            if own is not None:
                return own  # "a qwen image from this sketch": Qwen's canny ControlNet, not SD1.5's scribble
        if found:
            return found[0]
        known = [f for f in self.library.for_operation(step.op, variant) if set(f.ports) == set(ports)]
        what = step.op + (f" ({variant})" if variant else "")
        if not known:
            raise PlanError(f"no fragment does {what} with inputs {sorted(ports) or 'none'}")
        best = min(known, key=lambda f: (len(f.missing_classes(self.catalog)), f.priority))
        missing = best.missing_classes(self.catalog)
        api = [c for c in best.classes() if (s := self.catalog.get(c)) is not None and s.api_node]
        packs = [best.pack.name] if best.pack else []
        if missing:
            where = f" from the node pack {packs[0]} ({best.pack.url})" if best.pack else ""
            msg = f"{what} needs node classes the backend lacks: {', '.join(missing)}{where}"
        else:
            msg = f"{what} is only offered by paid API nodes ({', '.join(api)}), which are not configured"
        raise MissingCapability(msg, operation=step.op, node_classes=missing or api, packs=packs)

    def _family_control(
        self, step: Step, ports: Sequence[str], size: tuple[int, int] | None
    ) -> Fragment | None:
        """The named family's ControlNet: of the kind when it was named (its edge detector runs on a map too),
        else of any kind; a variant for what the reference is (a map or a picture) first."""
        mapped = bool(step.params.get("preprocessed"))
        kind = None if step.params.get("kind_guessed") else str(step.params.get("kind", "canny"))
        own = [
            f
            for f in self.library.candidates(
                "control", self.catalog, ports=ports, family=step.family, models=self.models, size=size
            )
            if f.family == step.family and (kind is None or (f.variant or "").removesuffix("_map") == kind)
        ]
        own.sort(key=lambda f: (f.variant or "").endswith("_map") != mapped)  # stable: the rank stays
        return own[0] if own else None

    # -- the whole plan ---------------------------------------------------------------------------------
    def compose(self, plan: Plan, files: Mapping[str, str] | Sequence[str] = ()) -> Composition:
        """`files`: the request's input files, name -> kind ("image", "video", "mask") or just names."""
        typed = (
            {n: _KIND_TYPE.get(k, file_type(n)) for n, k in files.items()}
            if isinstance(files, Mapping)
            else {n: file_type(n) for n in files}
        )
        for step in plan.steps:
            for port in step.inputs:
                for ref in step.refs(port):
                    if step_ref(ref) is None and ref not in typed:
                        typed[ref] = file_type(ref)
        g = plan_graph(plan, typed)
        ll = LinkList()
        cache: dict[str, Source] = {}
        outs: list[Source | None] = []
        consumed: set[int] = set()
        used_files: set[str] = set()
        chosen: list[str] = []
        notes: list[str] = []
        loras = [s for s in plan.steps if s.op == "lora"]
        self._sizes = _working_sizes(plan)
        lora_family: str | None = None  # a LoRA file fits one base model: the first generating step's
        for idx, step in enumerate(plan.steps):
            spec = OPERATIONS[step.op]
            if spec.output is None:
                outs.append(None)
                continue
            given: dict[str, list[Source]] = {}
            for port, pspec in spec.inputs.items():
                sources = self._resolve(
                    ll, cache, step, idx, port, pspec, outs, consumed, typed, used_files, g
                )
                if sources:
                    given[port] = sources
            fragment = self.choose(step, sorted(given))
            chosen.append(fragment.name)
            out, added = self._instantiate(ll, step, fragment, given, notes)
            if loras and fragment.lora and lora_family in (None, fragment.family):
                self._apply_loras(ll, fragment, added, loras, notes)
                lora_family = fragment.family
            outs.append(out)
        if loras and lora_family is None:
            raise PlanError("a LoRA needs a step that generates with a diffusion model")
        outputs = save_sinks(ll, plan, outs, consumed)
        graphs.share_identical(ll, self.catalog)
        graphs.check_links(ll, self.catalog)
        workflow = linklist_to_api(ll, self.catalog)
        files_used = required_files(workflow, self.catalog)
        inputs = files_used.pop("input", [])
        return Composition(ll, workflow, plan, chosen, files_used, inputs, outputs, notes)

    def _resolve(
        self,
        ll: LinkList,
        cache: dict[str, Source],
        step: Step,
        idx: int,
        port: str,
        pspec: InputPort,
        outs: list[Source | None],
        consumed: set[int],
        typed: Mapping[str, str],
        used_files: set[str],
        g: Digraph[Any],
    ) -> list[Source]:
        refs = step.refs(port)
        sources: list[Source] = []
        for ref in refs:
            n = step_ref(ref)
            if n is not None:
                src = outs[n]
                assert src is not None  # Plan checks a reference names a step with an output
                consumed.add(n)
            else:
                ptype = typed[ref]
                if pspec.types == ("MASK",) and ptype == "IMAGE":
                    ptype = "MASK"  # a picture named as the mask is read as one
                src = file_source(ll, cache, ref, ptype)
                used_files.add(ref)
            sources.append(src)
        if not refs and pspec.required:
            sources = self._implicit(ll, cache, idx, pspec, outs, consumed, typed, used_files)
            for src in sources:
                for n, out in enumerate(outs):
                    if out is src:
                        g.add_edge(n, idx, port=port)
        for src in sources:
            if src.type not in pspec.types:
                raise PortMismatch(
                    f"step {idx + 1} ({step.op}) takes {' or '.join(pspec.types)} on {port!r}, "
                    f"but is given {src.type}"
                )
        if len(sources) > 1 and not pspec.many:
            raise PlanError(f"step {idx + 1} ({step.op}) takes one source on {port!r}, not {len(sources)}")
        if pspec.many and pspec.required and len(sources) < 2:
            raise InputRequiredError(
                f"{step.op} needs at least two clips, given {len(sources)}", kind="video"
            )
        return sources

    def _implicit(
        self,
        ll: LinkList,
        cache: dict[str, Source],
        idx: int,
        pspec: InputPort,
        outs: list[Source | None],
        consumed: set[int],
        typed: Mapping[str, str],
        used_files: set[str],
    ) -> list[Source]:
        """An input the step does not name: the latest earlier output of a fitting type, else a request
        file of that type (the gateway never invents one)."""
        if pspec.many:
            found = [
                (n, s)
                for n, s in enumerate(outs)
                if s is not None and n not in consumed and s.type in pspec.types
            ]
            for n, _ in found:
                consumed.add(n)
            chain = [s for _, s in found]
            for name, ptype in typed.items():
                if ptype in pspec.types and name not in used_files:
                    chain.append(file_source(ll, cache, name, ptype))
                    used_files.add(name)
            return chain
        for n in range(idx - 1, -1, -1):
            src = outs[n]
            if src is not None and src.type in pspec.types:
                consumed.add(n)
                return [src]
        for name, ptype in typed.items():
            if ptype in pspec.types and name not in used_files:
                used_files.add(name)
                return [file_source(ll, cache, name, ptype)]
        for name, ptype in typed.items():
            if ptype in pspec.types:
                return [file_source(ll, cache, name, ptype)]
        kind = "video" if "VIDEO" in pspec.types and "IMAGE" not in pspec.types else pspec.types[0].lower()
        raise InputRequiredError(
            f"step {idx + 1} needs an input {kind}, and the request gives none", kind=kind
        )

    # -- one step ---------------------------------------------------------------------------------------
    def _instantiate(
        self, ll: LinkList, step: Step, fragment: Fragment, given: dict[str, list[Source]], notes: list[str]
    ) -> tuple[Source, set[str]]:
        before = set(ll.nodes)
        names = graphs.place(ll, fragment)
        values = self._values(step, fragment, given)
        for pname, value in values.items():
            targets = fragment.params.get(pname) or _sampler_targets(fragment, pname)
            if targets:
                graphs.set_param(ll, names, targets, value)
        if step.op == "upscale" and fragment.variant and fragment.variant.startswith("model"):
            self._pick_upscale_model(ll, names, fragment, step, notes)
        for port, sources in given.items():
            targets = fragment.ports[port]
            if fragment.variadic:
                self._chain(ll, names, fragment, targets, sources)
                continue
            graphs.connect(ll, (sources[0].node, sources[0].output), names, targets)
        assert fragment.output is not None
        out_type = OPERATIONS[step.op].output_type({p: s[0].type for p, s in given.items()})
        assert out_type is not None
        node, output = names[fragment.output[0]], fragment.output[1]
        if fragment.variadic:
            node = ll.nodes[-1]
        fps = self._fps(fragment, given, values) if out_type == "VIDEO" else None
        notes.append(f"step {step.op}: {fragment.name}")
        return Source(node, output, out_type, fps), set(ll.nodes) - before

    def _chain(
        self,
        ll: LinkList,
        names: dict[str, str],
        fragment: Fragment,
        targets: list[tuple[str, str]],
        sources: list[Source],
    ) -> None:
        """A variadic fragment (join): its node takes the first two sources, a copy of it each next one."""
        (key, first), (_, second) = targets[0], targets[1]
        node = names[key]
        graphs.connect(ll, (sources[0].node, sources[0].output), {key: node}, [(key, first)])
        graphs.connect(ll, (sources[1].node, sources[1].output), {key: node}, [(key, second)])
        out = fragment.output[1] if fragment.output else "IMAGE"
        for src in sources[2:]:
            nxt = ll.add(str(fragment.nodes[key]["class_type"]))
            ll.links.append((node, out, nxt, first))
            ll.links.append((src.node, src.output, nxt, second))
            node = nxt

    def _values(self, step: Step, fragment: Fragment, given: dict[str, list[Source]]) -> dict[str, Any]:
        p = dict(step.params)
        values: dict[str, Any] = {
            k: p[k]
            for k in ("prompt", "negative_prompt", "seed", "steps", "width", "height", "instruction")
            if k in p and not (k == "negative_prompt" and not p[k])  # none said: the fragment's default
        }
        if p.get("batch"):
            values["batch"] = p["batch"]
        if step.op in ("generate_video", "image_to_video", "video_to_video", "join"):
            fps = float(p.get("fps") or fragment.defaults.get("fps") or 24)
            values["fps"] = fps
            frames = frames_for(p.get("seconds"), p.get("frames"), fps, fragment)
            if frames is not None:
                values["frames"] = frames
        if step.op in ("video_to_video", "restyle"):
            values["denoise"] = p.get("denoise", 0.6)
        if step.op == "outpaint":
            for side in ("left", "top", "right", "bottom"):
                values[side] = -(-int(p.get(side, 0)) // 8) * 8  # the node steps by 8 pixels
            values["feathering"] = p.get("feathering", 40)
        if step.op in ("style", "control"):
            values["strength"] = p.get("strength", 1.0)
        if step.op == "style" and "width" not in p and (size := self._sizes.get(id(step))):
            values["width"], values["height"] = size  # variations of a picture made before: at its size
        if step.op == "upscale":
            factor = float(p.get("factor") or 2.0)
            native = float(fragment.defaults.get("native_scale") or 1)
            values["scale_by"] = round(factor / native, 4)
            if "width" in p or "height" in p:
                values["width"], values["height"] = p.get("width", 0), p.get("height", 0)
        if step.op == "interpolate":
            values["multiplier"] = p.get("multiplier", 2)
        if step.op == "render_text":
            text, prompt = p["text"], p.get("prompt", "")
            if "image" in given:
                values["prompt"] = f'add the text "{text}" to the picture' + (f", {prompt}" if prompt else "")
            else:
                values["prompt"] = (prompt or "a clean poster") + f', with the text "{text}" written clearly'
        if step.op == "face_detail":
            values["denoise"] = p.get("denoise", 0.5)
            if not p.get("prompt"):
                values.pop("prompt", None)
        if step.op == "segment":
            values["target"] = p.get("target", "subject")
        return values

    def _fps(self, fragment: Fragment, given: dict[str, list[Source]], values: dict[str, Any]) -> Fps:
        rule = fragment.output_fps
        if rule is None:
            return float(values.get("fps") or 24)
        fps: Fps = None
        if rule.port and given.get(rule.port):
            fps = given[rule.port][0].fps
        if rule.multiply_by and fps is not None:
            mult = float(values.get(rule.multiply_by, 1))
            fps = fps * mult if isinstance(fps, float) else fps  # a linked rate cannot be multiplied in core
        if fps is None and rule.param:
            fps = float(values.get(rule.param) or fragment.defaults.get("fps") or 24)
        return fps

    def _pick_upscale_model(
        self, ll: LinkList, names: dict[str, str], fragment: Fragment, step: Step, notes: list[str]
    ) -> None:
        """Backend-aware: an upscale model the backend has (4x preferred); the scale is its own."""
        have = list((self.models or {}).get("upscale_models") or [])
        loader = next((k for k, n in fragment.nodes.items() if n["class_type"] == "UpscaleModelLoader"), None)
        if not have or loader is None:
            return
        default = fragment.nodes[loader]["inputs"]["model_name"]
        pick = default if default in have else next((h for h in have if native_scale(h) == 4), have[0])
        ll.values(names[loader])["model_name"] = pick
        native = native_scale(pick) or 4
        if "scale_by" in fragment.params:
            factor = float(step.params.get("factor") or 2.0)
            graphs.set_param(ll, names, fragment.params["scale_by"], round(factor / native, 4))
        notes.append(f"upscale model {pick} (x{native})")

    def _apply_loras(
        self, ll: LinkList, fragment: Fragment, added: set[str], loras: list[Step], notes: list[str]
    ) -> None:
        model_key, clip_key = fragment.lora.get("model"), fragment.lora.get("clip")
        if model_key is None or clip_key is None:
            return
        names = {key: n for key, n in zip(fragment.nodes, sorted(added, key=ll.nodes.index), strict=False)}
        model = (names[model_key[0]], model_key[1])
        clip = (names[clip_key[0]], clip_key[1])
        for lora in loras:
            file = self._lora_file(str(lora.params["name"]))
            node = ll.add(
                "LoraLoader",
                {
                    "lora_name": file,
                    "strength_model": lora.params.get("strength", 1.0),
                    "strength_clip": lora.params.get("strength", 1.0),
                },
            )
            graphs.reroute(ll, model, (node, "MODEL"), within=added, skip=node)
            graphs.reroute(ll, clip, (node, "CLIP"), within=added, skip=node)
            ll.links.append((model[0], model[1], node, "model"))
            ll.links.append((clip[0], clip[1], node, "clip"))
            model, clip = (node, "MODEL"), (node, "CLIP")
            added.add(node)
            notes.append(f"LoRA {file} on {fragment.name}")

    def _lora_file(self, name: str) -> str:
        """The backend's file for the LoRA the request names. When the backend's LoRAs are known and it is
        not among them: `MissingCapability`, never another LoRA (it would draw something else)."""
        have = list((self.models or {}).get("loras") or [])
        stem = name.lower().rsplit(".", 1)[0] if "." in name else name.lower()
        for h in have:
            if h.lower() == name.lower() or h.lower().rsplit(".", 1)[0].rsplit("/", 1)[-1] == stem:
                return h
        file = name if "." in name else f"{name}.safetensors"
        if self.models is not None and "loras" in self.models:
            listed = ", ".join(have[:20]) + (", ..." if len(have) > 20 else "") if have else "none"
            raise MissingCapability(
                f"the LoRA {file!r} is not on the backend (its LoRAs: {listed}); put the file in ComfyUI's "
                "models/loras folder, or name one of those",
                operation="lora",
                model_files=[f"loras/{file}"],
            )
        return file


# Operations that make a picture from words alone when given no input (a chain's first picture).
_FROM_TEXT = frozenset({"generate_image", "render_text"})


def _working_sizes(plan: Plan) -> dict[int, tuple[int, int]]:
    """The picture size each step works at, by `id(step)`, for choosing its model: its own, else the last one
    an earlier step set (a 1920x1080 picture restyled is restyled at that size); a picture made from text
    with no size said works at the request-wide default (`agents.defaults.picture_size`)."""
    sizes: dict[int, tuple[int, int]] = {}
    current: tuple[int, int] | None = None
    for step in plan.steps:
        width, height = step.params.get("width"), step.params.get("height")
        if width and height and step.op != "upscale":
            current = (int(width), int(height))
        elif current is None and step.op in _FROM_TEXT and not step.inputs:
            current = picture_size()  # the lone text-to-image default: never a 512-pixel SD1.5 picture
        if current is not None:
            sizes[id(step)] = current
    return sizes


# A fragment that names no target for the seed or the step count: its samplers' own inputs take them.
_SAMPLER_INPUTS = {"seed": ("seed", "noise_seed"), "steps": ("steps",), "batch": ("batch_size",)}


def _sampler_targets(fragment: Fragment, param: str) -> list[tuple[str, str]]:
    names = _SAMPLER_INPUTS.get(param, ())
    return [
        (key, name)
        for key, node in fragment.nodes.items()
        for name in names
        if isinstance((node.get("inputs") or {}).get(name), int | float)
    ]


def compose(
    plan: Plan,
    catalog: Catalog,
    *,
    files: Mapping[str, str] | Sequence[str] = (),
    models: Mapping[str, Sequence[str]] | None = None,
    library: FragmentLibrary | None = None,
) -> Composition:
    """One graph for the plan (see `Composer`)."""
    return Composer(catalog, models=models, library=library).compose(plan, files)
