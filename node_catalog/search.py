"""Ranked search over node specs: by words of a query, and the nearest real node to an invented name."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node_catalog.specs import NodeSpec, types_match


@dataclass(frozen=True, slots=True)
class SearchHit:
    name: str
    score: float
    display_name: str
    category: str
    reason: str = ""


_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+")


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in _WORD.findall(text.replace("_", " "))}


class NodeSearch:
    """Search over a set of node specs (the Catalog is one); the words of every node's name and display name
    are indexed once."""

    def __init__(self, nodes: Mapping[str, NodeSpec]) -> None:
        self._nodes: dict[str, NodeSpec] = dict(nodes)
        self._lower = {n.lower(): n for n in nodes}
        self._tokens = {n: _tokens(f"{n} {s.display_name}") for n, s in nodes.items()}

    def search(
        self,
        query: str,
        *,
        input_type: str | None = None,
        output_type: str | None = None,
        category: str | None = None,
        limit: int = 10,
    ) -> list[SearchHit]:
        """Rank nodes by name, display name, category and description against `query`; filter by types."""
        q = query.strip().lower()
        q_tokens = _tokens(query)
        hits: list[SearchHit] = []
        for name, spec in self._nodes.items():
            if input_type and not any(
                types_match(input_type, i.type) for i in spec.inputs.values() if i.section != "hidden"
            ):
                continue
            if output_type and not any(types_match(o.type, output_type) for o in spec.outputs):
                continue
            if category and not spec.category.lower().startswith(category.lower()):
                continue
            if not q:
                score, reason = 0.5, "filter"
            else:
                score, reason = self._score(q, q_tokens, spec)
                if score <= 0.0:
                    continue
            if spec.deprecated:
                score *= 0.5
            if spec.api_node:  # paid cloud nodes rank after the ones that run on the backend itself
                score *= 0.9
            hits.append(SearchHit(name, round(score, 4), spec.display_name, spec.category, reason))
        hits.sort(key=lambda h: (-h.score, h.name))
        return hits[:limit]

    def _score(self, q: str, q_tokens: set[str], spec: NodeSpec) -> tuple[float, str]:
        name, display = spec.name.lower(), spec.display_name.lower()
        if q in (name, display):
            return 1.0, "exact name"
        best, reason = 0.0, ""
        if q in name or q in display:
            best, reason = 0.8 + 0.1 * len(q) / max(len(name), 1), "name contains query"
        node_tokens = self._tokens[spec.name]
        if q_tokens:
            overlap = len(q_tokens & node_tokens) / len(q_tokens)
            if overlap * 0.75 > best:
                best, reason = overlap * 0.75, "name words"
        ratio = difflib.SequenceMatcher(None, q, name).ratio()
        if ratio * 0.7 > best and ratio > 0.5:
            best, reason = ratio * 0.7, "similar name"
        if best < 0.3 and q_tokens:
            text = _tokens(f"{spec.category} {spec.description}")
            overlap = len(q_tokens & text) / len(q_tokens)
            if overlap * 0.4 > best:
                best, reason = overlap * 0.4, "category/description"
        return best, reason

    def closest(
        self,
        name: str,
        *,
        limit: int = 5,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        """Real nodes nearest to a (possibly invented) class name, optionally by input/output types."""
        if name in self._nodes:
            spec = self._nodes[name]
            return [SearchHit(name, 1.0, spec.display_name, spec.category, "exact name")]
        low = name.lower()
        if low in self._lower:
            real = self._nodes[self._lower[low]]
            return [SearchHit(real.name, 0.99, real.display_name, real.category, "case differs")]
        q_tokens = _tokens(name)
        # the last word names the node's role (Sampler, Loader, Encode, ...): sharing it matters most
        q_words = [w for w in _WORD.findall(name.replace("_", " ")) if w.isalpha() and len(w) > 2]
        q_role = q_words[-1].lower() if q_words else ""
        hits = []
        for spec in self._nodes.values():
            ratio = difflib.SequenceMatcher(None, low, spec.name.lower()).ratio()
            tok = self._tokens[spec.name]
            overlap = len(q_tokens & tok) / max(len(q_tokens | tok), 1)
            score = 0.55 * ratio + 0.45 * overlap
            words = [w for w in _WORD.findall(spec.name.replace("_", " ")) if w.isalpha() and len(w) > 2]
            if q_role and words and words[-1].lower() == q_role:
                score += 0.1
            if spec.api_node:
                score *= 0.9
            if inputs:
                have = {i.type for i in spec.inputs.values()}
                score += 0.15 * sum(1 for t in inputs if t in have) / len(inputs)
            if outputs:
                have_out = {o.type for o in spec.outputs}
                score += 0.15 * sum(1 for t in outputs if t in have_out) / len(outputs)
            if spec.deprecated:
                score *= 0.8
            hits.append(SearchHit(spec.name, round(score, 4), spec.display_name, spec.category, "similar"))
        hits.sort(key=lambda h: (-h.score, h.name))
        return hits[:limit]


def closest_names(name: str, candidates: Sequence[str], *, limit: int = 3) -> list[str]:
    """Nearest strings (e.g. model file names the backend has) to a missing one."""
    found = difflib.get_close_matches(name, list(candidates), n=limit, cutoff=0.3)
    if len(found) < limit:
        low = name.lower().rsplit("/", 1)[-1].split(".")[0]
        for cand in candidates:
            if cand not in found and low and low[:6] in cand.lower():
                found.append(cand)
                if len(found) >= limit:
                    break
    return found
