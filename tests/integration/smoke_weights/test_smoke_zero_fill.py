"""Inside ComfyUI's own Python (started with `comfy_env()`, as the local server is), the parameters a
smoke-weight file omits are exact zeros, whatever bytes the allocator handed out for them, and large ones cost
no memory; a Linear layer left all zeros gives its output without multiplying by them; a file without the
marker is loaded exactly as ComfyUI always does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from comfyui_local import install
from comfyui_local.process import comfy_env

pytestmark = pytest.mark.integration

# Run by ComfyUI's Python: argv = comfyui_dir, work dir. Prints one JSON line.
SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from comfy.cli_args import args
args.cpu = True
import torch, safetensors.torch
import comfy.utils, comfy.ops

def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        ops = comfy.ops.disable_weight_init
        self.small = ops.Linear(8, 8)            # in the file
        self.big = ops.Linear(4096, 4096)        # 64 MiB, omitted
        self.mid = ops.Linear(64, 64)            # 16 KiB, omitted

def load(path):
    model = Model()
    for p in model.parameters():                  # what stale heap bytes look like
        p.data.fill_(float("nan"))
    sd = comfy.utils.load_torch_file(path)
    missing = model.load_state_dict(sd, strict=False).missing_keys
    return model, sorted(missing)

work = sys.argv[2]
small = {"small.weight": torch.ones(8, 8), "small.bias": torch.zeros(8)}
marked, plain = f"{work}/marked.safetensors", f"{work}/plain.safetensors"
safetensors.torch.save_file(small, marked, metadata={"comfy_gateway_smoke_weights": "1", "role": "test"})
safetensors.torch.save_file(small, plain)
model, missing = load(marked)
before = rss_kib()
total = float(model.big.weight.sum()) + float(model.mid.weight.sum()) + float(model.big.bias.sum())
grown = rss_kib() - before
out = {
    "missing": missing,
    "zeros": total == 0.0 and all(bool(torch.isfinite(p).all()) for p in model.parameters()),
    "kept": bool((model.small.weight == 1).all()),
    "rss_growth_kib": grown,
    "metadata": comfy.utils.load_torch_file(marked, return_metadata=True)[1],
}
plain_model, _ = load(plain)
out["plain_untouched"] = bool(torch.isnan(plain_model.big.weight).all())

# A zeroed Linear answers without its product: the same output, NaN rows carried as the product would.
torch.manual_seed(0)
x = torch.randn(3, 4096)
x[1, 7] = float("nan")
x[2, 9] = float("inf")
with torch.inference_mode():
    model.big.bias.data = torch.arange(4096, dtype=torch.float32)  # tell bias from zero
    got = model.big(x)
    want = torch.nn.functional.linear(x, model.big.weight, model.big.bias)
out["skips_product"] = bool(getattr(model.big, "_comfy_gateway_zero_weight", None))
out["same_output"] = bool(torch.equal(got[0], want[0])) and bool(torch.equal(got[0], model.big.bias))
out["nan_rows"] = bool(torch.isnan(got[1:]).all()) and bool(torch.isnan(want[1:]).all())
# An input of the wrong width fails as the product fails (a smoke run still catches a miswired graph).
try:
    model.big(torch.randn(2, 77))
    out["wrong_width_fails"] = False
except RuntimeError:
    out["wrong_width_fails"] = True
# Replaced (as a LoRA patch replaces it): computed as usual again.
model.big.weight = torch.nn.Parameter(torch.ones(4096, 4096))
with torch.inference_mode():
    out["patched_computes"] = bool(torch.allclose(model.big(x[:1]), x[:1].sum() + model.big.bias, atol=1e-3))
out["plain_computes"] = getattr(plain_model.big, "_comfy_gateway_zero_weight", None) is None
print(json.dumps(out))
"""


def run_in_comfy(script: str, work: Path) -> dict[str, Any]:
    """Run `script` with ComfyUI's Python as the local server runs (argv: comfyui_dir, work dir); its last
    stdout line, as JSON."""
    inst = install()
    proc = subprocess.run(
        [str(inst.python), "-c", script, str(inst.require().comfyui_dir), str(work)],
        env=comfy_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def test_omitted_parameters_of_a_smoke_file_are_zero_and_cost_no_memory(tmp_path: Path) -> None:
    out = run_in_comfy(SCRIPT, tmp_path)
    assert out["missing"] == ["big.bias", "big.weight", "mid.bias", "mid.weight"]
    assert out["zeros"] and out["kept"]
    # 64 MiB of zeros read in full: mapped zero pages, not memory
    assert out["rss_growth_kib"] < 8 * 1024, out["rss_growth_kib"]
    # callers asking for the metadata still get it; files without the marker are left as ComfyUI loads them
    assert out["metadata"]["comfy_gateway_smoke_weights"] == "1"
    assert out["plain_untouched"]
    # a zeroed Linear skips its product with the same output; a replaced weight or a real file computes
    assert out["skips_product"] and out["same_output"] and out["nan_rows"], out
    assert out["patched_computes"] and out["plain_computes"] and out["wrong_width_fails"], out


# The start of the strict-load and pickle scripts: argv = comfyui_dir, work dir; a module with a small Linear
# its files hold and a big one they omit. Each prints one JSON line.
PRELUDE = r"""
import json, sys, zipfile
sys.path.insert(0, sys.argv[1])
from comfy.cli_args import args
args.cpu = True
import torch, safetensors.torch
import comfy.utils, comfy.ops

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.small = comfy.ops.disable_weight_init.Linear(8, 8)
        self.big = comfy.ops.disable_weight_init.Linear(1024, 1024)  # omitted
"""

# Strict loads (ModelPatchLoader's).
STRICT_SCRIPT = (
    PRELUDE
    + r"""
def strict_load(sd):
    model = Model()
    for p in model.parameters():
        p.data.fill_(float("nan"))
    try:
        model.load_state_dict(sd)
    except RuntimeError as exc:
        return model, str(exc)
    return model, None

work = sys.argv[2]
small = {"small.weight": torch.ones(8, 8), "small.bias": torch.zeros(8)}
extra = {**small, "stray.weight": torch.ones(2)}
meta = {"comfy_gateway_smoke_weights": "1", "role": "test"}
for name, sd, metadata in (
    ("marked", small, meta), ("plain", small, None),
    ("marked_extra", extra, meta), ("plain_extra", extra, None),
):
    safetensors.torch.save_file(sd, f"{work}/{name}.safetensors", metadata=metadata)
out = {}
model, error = strict_load(comfy.utils.load_torch_file(f"{work}/marked.safetensors", safe_load=True))
out["marked"] = {"error": error, "zeros": float(model.big.weight.abs().sum()) == 0.0,
                 "kept": bool((model.small.weight == 1).all())}
for name in ("plain", "marked_extra", "plain_extra"):
    out[name] = strict_load(comfy.utils.load_torch_file(f"{work}/{name}.safetensors", safe_load=True))[1]
print(json.dumps(out))
"""
)


def test_a_strict_load_accepts_what_a_smoke_file_omits_and_nothing_else(tmp_path: Path) -> None:
    """ModelPatchLoader loads strictly: a marked file's omissions become zeros there too, while a key the
    module lacks still fails, and a real file keeps torch's strict behaviour exactly."""
    out = run_in_comfy(STRICT_SCRIPT, tmp_path)
    assert out["marked"] == {"error": None, "zeros": True, "kept": True}
    assert "Missing key(s)" in out["plain"] and '"big.weight"' in out["plain"]
    assert 'Unexpected key(s) in state_dict: "stray.weight"' in out["marked_extra"]
    assert "Missing key(s)" not in out["marked_extra"]
    assert "Unexpected key(s)" in out["plain_extra"] and "Missing key(s)" in out["plain_extra"]


# Pickles (a `.ckpt` torch zip).
PICKLE_SCRIPT = (
    PRELUDE
    + r"""
work = sys.argv[2]
small = {"small.weight": torch.ones(8, 8), "small.bias": torch.zeros(8)}
out = {}
for name, record in (("marked", True), ("plain", False), ("other_record", None)):
    path = f"{work}/{name}.ckpt"
    torch.save(small, path)
    if record is not None:  # as the smoke writer adds it (`_smoke_tensors.write_pth`)
        meta = {"comfy_gateway_smoke_weights": "1" if record else "0", "role": "test"}
        with zipfile.ZipFile(path, "a") as zf:
            archive = zf.namelist()[0].split("/", 1)[0]
            zf.writestr(f"{archive}/comfy_gateway_smoke_weights.json", json.dumps(meta))
    model = Model()
    for p in model.parameters():
        p.data.fill_(float("nan"))
    sd = comfy.utils.load_torch_file(path, safe_load=True)
    model.load_state_dict(sd, strict=False)
    out[name] = {
        "zeros": float(model.big.weight.abs().sum()) == 0.0,
        "untouched": bool(torch.isnan(model.big.weight).all()),
        "kept": bool((model.small.weight == 1).all()),
    }
print(json.dumps(out))
"""
)


def test_a_torch_zip_checkpoint_with_the_smoke_record_is_a_smoke_file(tmp_path: Path) -> None:
    """A pickle has no safetensors metadata: the record the smoke writer adds to its zip marks it instead
    (sd21-unclip-h.ckpt omits its OpenCLIP-H towers); a pickle without it, or with another value, is left
    as ComfyUI loads it."""
    out = run_in_comfy(PICKLE_SCRIPT, tmp_path)
    assert out["marked"] == {"zeros": True, "untouched": False, "kept": True}
    assert out["plain"] == out["other_record"] == {"zeros": False, "untouched": True, "kept": True}
