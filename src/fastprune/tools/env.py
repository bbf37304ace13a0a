"""``fastprune env``: versions, devices and which native kernels this install has."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import platform


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect_env() -> dict:
    """Everything ``fastprune env`` reports, as a JSON-ready dict."""
    import torch

    from fastprune import __version__
    from fastprune.threads import thread_state

    info: dict = {
        "fastprune": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "transformers": _version("transformers"),
        "triton": _version("triton"),
        "peft": _version("peft"),
        "datasets": _version("datasets"),
        "cpu_threads": torch.get_num_threads(),
        "threads": thread_state(),
        "cuda_available": torch.cuda.is_available(),
        "devices": [],
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            info["devices"].append(
                {"name": props.name, "capability": f"{props.major}.{props.minor}",
                 "memory_gib": round(props.total_memory / 2**30, 1)}
            )
    try:
        ops = importlib.import_module("fastprune.ops")
        info["native"] = ops.native_build_info()
        info["backends"] = {"cpu": ops.available_backends("cpu")}
        if torch.cuda.is_available():
            info["backends"]["cuda"] = ops.available_backends("cuda")
    except Exception as exc:  # env must report a broken install, not crash on it
        info["native"] = {"error": f"{type(exc).__name__}: {exc}"}
    return info


def _print_human(info: dict) -> None:
    for key in ("fastprune", "python", "torch", "torch_cuda", "transformers", "triton", "peft", "datasets",
                "cpu_threads", "cuda_available"):
        print(f"{key:>15}: {info.get(key)}")
    for dev in info["devices"]:
        print(f"{'device':>15}: {dev['name']} (sm {dev['capability']}, {dev['memory_gib']} GiB)")
    print(f"{'threads':>15}: {json.dumps(info['threads'])}")
    native = info.get("native", {})
    for name, entry in native.items():
        print(f"{'native ' + name:>15}: {json.dumps(entry)}")
    for dev, backends in info.get("backends", {}).items():
        print(f"{'backends ' + dev:>15}: {', '.join(backends)}")


def run(args: argparse.Namespace) -> int:
    info = collect_env()
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        _print_human(info)
    return 0


def register(sub, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)
