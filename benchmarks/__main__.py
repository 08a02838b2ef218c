"""Run every `benchmarks/*.py` module that defines `main()`, or only those named on the command line."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def run(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    failed = 0
    for name in modules:
        if names and name not in names:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        entry = getattr(module, "main", None)
        if callable(entry):
            print(f"== benchmarks.{name}")
            try:
                entry()
            except Exception as exc:  # one broken benchmark must not hide the others
                failed += 1
                print(f"   failed: {type(exc).__name__}: {exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
