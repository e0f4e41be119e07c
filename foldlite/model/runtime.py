"""Which engine runs the network: torch, or ONNX Runtime on the network exported once into the cache
(foldlite.model.onnx_cache). Decided without importing torch, since avoiding that import is the point.

"auto" takes ONNX Runtime for CPU folds when onnxruntime is installed, unless bf16 may run natively
here: ONNX Runtime runs this export in fp32, and on a CPU with AMX or avx512_bf16 torch's bf16 autocast
(foldlite.model.precision, which still measures before it uses bf16) can be several times faster.
Measured on an AVX2-only AMD EPYC (README "Speed and memory"): the same network outputs within 1e-5,
0.73 s from process start to a 300-residue network output against 1.86 s with torch.
"""
from __future__ import annotations

import importlib.util
import os
import platform

RUNTIMES = ("auto", "onnx", "torch")
# "1" or "0": use bf16 or not, without measuring (foldlite.model.precision reads it too; defined here,
# where no torch is imported)
BF16_ENV = "FOLDLITE_BF16"
BF16_FLAGS = ("amx_tile", "avx512_bf16")  # /proc/cpuinfo flags of native bf16 matrix maths on x86-64


class RuntimeChoiceError(ValueError):
    """A runtime that was asked for but cannot run here."""


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when this Linux x86-64 CPU lists AMX tiles or avx512_bf16 (in `cpuinfo`), or FOLDLITE_BF16=1
    asks for bf16; False elsewhere (where the flags cannot be read, the fp32 export is taken)."""
    asked = os.environ.get(BF16_ENV)
    if asked in ("0", "1"):
        return asked == "1"
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in BF16_FLAGS)
    except OSError:
        pass
    return False


def use_onnx(runtime: str, device) -> bool:
    """Whether a model for `device` should run on ONNX Runtime. runtime "onnx" on another device than
    the CPU, or without onnxruntime installed, is a RuntimeChoiceError."""
    if runtime not in RUNTIMES:
        raise RuntimeChoiceError(f"unknown runtime {runtime!r}; use {', '.join(RUNTIMES)}")
    on_cpu = str(device) == "cpu"
    if runtime == "onnx":
        if not on_cpu:
            raise RuntimeChoiceError(f"runtime 'onnx' runs on the CPU only, not on device {device!r}: "
                                     "use --device cpu, or --runtime torch")
        if not onnxruntime_installed():
            raise RuntimeChoiceError("runtime 'onnx' needs onnxruntime: pip install onnxruntime")
        return True
    return runtime == "auto" and on_cpu and onnxruntime_installed() and not cpu_has_native_bf16()
