"""The plan being written while the planner reads a request, clause by clause: its steps so far, what each
outputs, which inputs are used, and what the backend has that the words may name (its LoRA files)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _State:
    files: dict[str, str]  # every input file the request has, name -> port type
    steps: list[dict[str, Any]] = field(default_factory=list)
    out_types: list[str | None] = field(default_factory=list)
    consumed: set[int] = field(default_factory=set)
    used: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    loras: frozenset[str] = frozenset()  # LoRA file names the backend has (lower case, no folder)
    unwanted: str = ""  # a negative said before any step ("negative prompt: ugly. prompt: a princess")

    def add(
        self, op: str, params: dict[str, Any], inputs: dict[str, Any], out: str | None, family: str | None
    ) -> int:
        for refs in inputs.values():
            for ref in [refs] if isinstance(refs, str) else refs:
                if ref.startswith("#"):
                    self.consumed.add(int(ref[1:]) - 1)
                else:
                    self.used.add(ref)
        if self.unwanted and op.startswith("generate_") and not params.get("negative_prompt"):
            params = {**params, "negative_prompt": self.unwanted}
            self.unwanted = ""
        step: dict[str, Any] = {"op": op, "params": params, "inputs": inputs}
        if family:
            step["family"] = family
        self.steps.append(step)
        self.out_types.append(out)
        return len(self.steps)

    def last(self, types: Sequence[str]) -> str | None:
        for idx in range(len(self.out_types) - 1, -1, -1):
            if self.out_types[idx] in types:
                return f"#{idx + 1}"
        return None

    def given(self, types: Sequence[str]) -> str | None:
        for name, ptype in self.files.items():
            if ptype in types and name not in self.used:
                return name
        return None

    def described(self, ref: str) -> str:
        """What the picture an earlier step made shows: its prompt or instruction, else that of the step it
        came from (an upscale or interpolation between describes nothing)."""
        for _ in range(len(self.steps)):
            if not ref.startswith("#"):
                break
            step = self.steps[int(ref[1:]) - 1]
            said = step["params"].get("prompt") or step["params"].get("instruction")
            if said:
                return str(said)
            ref = next((r for r in step["inputs"].values() if isinstance(r, str) and r.startswith("#")), "")
        return ""
