"""Refine's structural passes over a link list: unknown node classes replaced, links rerouted or dropped,
required inputs filled or linked (adding loader nodes), an output node ensured."""

from __future__ import annotations

import logging

from agents.choosers import NodeChooser, PlannerChooser
from agents.errors import LLMError, RepairError
from agents.linklist import LinkList, class_of, output_slot
from node_catalog import Catalog, InputSpec
from node_catalog.linklist import widget_default

log = logging.getLogger(__name__)

# Nodes Refine may add when a required link has no producer in the graph (loaders need no links).
_PROVIDERS = {
    "VAE": "VAELoader",
    "CLIP": "DualCLIPLoader",
    "MODEL": "UNETLoader",
    "CLIP_VISION": "CLIPVisionLoader",
    "UPSCALE_MODEL": "UpscaleModelLoader",
    "NOISE": "RandomNoise",
    "SAMPLER": "KSamplerSelect",
}


class StructuralPasses:
    """The passes that change a link list's nodes and links (in place, one line per fix in `fixes`)."""

    def __init__(self, catalog: Catalog, chooser: NodeChooser) -> None:
        self.catalog = catalog
        self.chooser = chooser

    async def replace_unknown(self, doc: LinkList, fixes: list[str]) -> None:
        for name in list(doc.nodes):
            class_type = class_of(name)
            if class_type in self.catalog:
                continue
            input_types = [self._src_type(doc, s, o) for s, o, d, _ in doc.links if d == name]
            output_types = [self._dst_type(doc, d, i) for s, _, d, i in doc.links if s == name]
            context = {
                "input_types": [t for t in input_types if t],
                "output_types": [t for t in output_types if t],
            }
            hits = self.catalog.closest(
                class_type,
                limit=5,
                inputs=context["input_types"] or None,
                outputs=context["output_types"] or None,
            )
            candidates = [spec for h in hits if (spec := self.catalog.get(h.name)) is not None]
            if not candidates:
                raise RepairError(f"node {class_type!r} does not exist and nothing in the catalog is close")
            try:
                choice = await self.chooser.choose(class_type, candidates, context)
            except LLMError as exc:
                log.warning(
                    "LLM could not choose a replacement for %s (%s); using the planner", class_type, exc
                )
                choice = await PlannerChooser().choose(class_type, candidates, context)
            new = doc.rename_class(name, choice)
            fixes.append(
                f"unknown node {class_type} replaced by {choice} (candidates: {[c.name for c in candidates]})"
            )
            spec = self.catalog[choice]
            # keep only widget values the new class has
            doc.widgets[new] = {k: v for k, v in doc.values(new).items() if k in spec.inputs}

    def _src_type(self, doc: LinkList, src: str, out: str) -> str | None:
        spec = self.catalog.get(class_of(src)) if src in doc.nodes else None
        if spec is None:
            return out if out.isupper() else None
        idx = output_slot(spec, out)
        return spec.outputs[idx].type if idx is not None else None

    def _dst_type(self, doc: LinkList, dst: str, inp: str) -> str | None:
        spec = self.catalog.get(class_of(dst)) if dst in doc.nodes else None
        if spec is None or inp not in spec.inputs:
            return None
        return spec.inputs[inp].type

    # -- links ------------------------------------------------------------------------------------------
    def fix_links(self, doc: LinkList, fixes: list[str]) -> None:
        kept: list[tuple[str, str, str, str]] = []
        for link in doc.links:
            src, out, dst, inp = link
            if src not in doc.nodes or dst not in doc.nodes:
                fixes.append(f"dropped link {list(link)}: node missing")
                continue
            src_spec, dst_spec = (
                self.catalog[class_of(src)],
                self.catalog[class_of(dst)],
            )
            taken = {i for s, o, d, i in kept if d == dst}
            # the destination input: by name, else the first free link input of the source's type
            if inp not in dst_spec.inputs:
                src_idx = output_slot(src_spec, out)
                src_type = src_spec.outputs[src_idx].type if src_idx is not None else None
                new_inp = next(
                    (
                        i.name
                        for i in dst_spec.inputs.values()
                        if _type_ok(src_type, i) and i.name not in taken
                    ),
                    None,
                )
                if new_inp is None:
                    fixes.append(f"dropped link {list(link)}: {dst_spec.name} has no input {inp!r} for it")
                    continue
                fixes.append(f"link {src}.{out} -> {dst}.{inp} rerouted to input {new_inp}")
                inp = new_inp
            want = dst_spec.inputs[inp].type
            idx = output_slot(src_spec, out)
            if idx is None or not _type_ok(src_spec.outputs[idx].type, dst_spec.inputs[inp]):
                # retype: another output of the same node, else another node of the graph that makes `want`
                alt = next((o for o in src_spec.outputs if _type_ok(o.type, dst_spec.inputs[inp])), None)
                if alt is not None:
                    fixes.append(f"link {src}.{out} -> {dst}.{inp} retyped to output {alt.name} ({want})")
                    out = alt.name
                else:
                    producer = self._producer_in_graph(doc, want, exclude=dst)
                    if producer is None:
                        fixes.append(f"dropped link {list(link)}: {src} makes no {want}")
                        continue
                    fixes.append(
                        f"link into {dst}.{inp} rerouted from {src} to {producer[0]}.{producer[1]} ({want})"
                    )
                    src, out = producer
            if inp in taken:
                fixes.append(f"dropped duplicate link into {dst}.{inp}")
                continue
            doc.values(dst).pop(inp, None)
            kept.append((src, out, dst, inp))
        doc.links = kept

    def _producer_in_graph(self, doc: LinkList, type_: str, *, exclude: str) -> tuple[str, str] | None:
        for name in doc.nodes:
            if name == exclude:
                continue
            spec = self.catalog.get(class_of(name))
            for out in spec.outputs if spec else []:
                if out.type == type_:
                    return name, out.name
        return None

    def fill_missing(self, doc: LinkList, fixes: list[str]) -> None:
        for name in list(doc.nodes):
            values = doc.values(name)
            spec = self.catalog[class_of(name)]
            linked = doc.incoming(name)
            for inp in spec.required.values():
                if inp.name in linked or (inp.is_widget and inp.name in values):
                    continue
                if inp.is_widget:
                    value = widget_default(inp, neutral=True)
                    if value is None:
                        continue  # an empty COMBO (no model files known): the validator reports it
                    values[inp.name] = value
                    fixes.append(f"{name}.{inp.name} was missing: set to {value!r}")
                    continue
                producer = self._producer_in_graph(doc, inp.type, exclude=name)
                if producer is None and inp.type in _PROVIDERS and _PROVIDERS[inp.type] in self.catalog:
                    cls = _PROVIDERS[inp.type]
                    new = doc.add(cls)
                    producer = (new, self.catalog[cls].outputs[0].name)
                    fixes.append(f"added {cls} to provide {inp.type}")
                    self._fill_widgets(doc, new)
                if producer is None:
                    continue  # left for validation to report as required_input_missing
                doc.links.append((producer[0], producer[1], name, inp.name))
                fixes.append(f"{name}.{inp.name} was unlinked: linked from {producer[0]}.{producer[1]}")

    def _fill_widgets(self, doc: LinkList, name: str) -> None:
        values = doc.values(name)
        for inp in self.catalog[class_of(name)].required.values():
            if (
                inp.is_widget
                and inp.name not in values
                and (value := widget_default(inp, neutral=True)) is not None
            ):
                values[inp.name] = value

    def ensure_output(self, doc: LinkList, fixes: list[str], *, video: bool) -> None:
        specs = {n: self.catalog[class_of(n)] for n in doc.nodes}
        if any(s.output_node for s in specs.values()):
            return
        consumed = {s for s, *_ in doc.links}
        for wanted, saver in (("VIDEO", "SaveVideo"), ("IMAGE", "SaveVideo" if video else "SaveImage")):
            leaf = next(
                (
                    n
                    for n, s in specs.items()
                    if n not in consumed and any(o.type == wanted for o in s.outputs)
                ),
                None,
            ) or next((n for n, s in specs.items() if any(o.type == wanted for o in s.outputs)), None)
            if leaf is None:
                continue
            src_out = next(o.name for o in specs[leaf].outputs if o.type == wanted)
            if wanted == "IMAGE" and video:
                create = doc.add("CreateVideo")
                self._fill_widgets(doc, create)
                doc.links.append((leaf, src_out, create, "images"))
                leaf, src_out = create, "VIDEO"
            save = doc.add(saver)
            self._fill_widgets(doc, save)
            first_link = next(i.name for i in self.catalog[saver].required.values() if not i.is_widget)
            doc.links.append((leaf, src_out, save, first_link))
            fixes.append(f"no output node: added {saver} after {leaf}")
            return


def _type_ok(src_type: str | None, inp: InputSpec) -> bool:
    if src_type is None:
        return False
    if inp.type == "*" or src_type == "*":
        return True
    return src_type == inp.type or (inp.is_widget and src_type == inp.type)
