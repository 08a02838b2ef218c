"""Start-up code for ComfyUI's own Python: this folder goes on the local ComfyUI's PYTHONPATH
(`comfyui_local.process.comfy_env`), so its `sitecustomize` runs before ComfyUI's main.py. The gateway never
imports it."""
