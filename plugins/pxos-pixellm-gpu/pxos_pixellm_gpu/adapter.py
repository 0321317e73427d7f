"""The GPU the engine computes on: a WebGPU adapter and device, through wgpu.

wgpu (wgpu-native) offers the machine's Vulkan, Metal and Direct3D 12
adapters. On a machine without a GPU, Mesa's lavapipe (Debian's
``mesa-vulkan-drivers``) is a Vulkan adapter of type CPU: the same kernels run
in software. OpenGL adapters are left out on purpose: their compute support is
partial, and probing them prints EGL noise and costs seconds.

Settings (the ``inference.pixellm-gpu`` config section):

``adapter``
    ``auto`` (default: the first hardware adapter, else a software one),
    ``hardware`` (refuse software adapters) or ``software``.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from pxos_kernel import ConfigError, InferenceError

ADAPTER_CHOICES = ("auto", "hardware", "software")
_BACKENDS = ["Vulkan", "Metal", "DX12"]
#: The limits the engine asks for at the adapter's maximum (WebGPU's defaults are lower).
_LIMITS = ("max-storage-buffer-binding-size", "max-buffer-size", "max-storage-buffers-per-shader-stage",
           "max-compute-workgroups-per-dimension", "max-compute-invocations-per-workgroup",
           "max-compute-workgroup-storage-size")
INSTALL_HINT = ("for the software adapter install mesa-vulkan-drivers (apt-get install mesa-vulkan-drivers), "
                "or a GPU's Vulkan driver")


@dataclass(frozen=True)
class AdapterInfo:
    """What ``inspect`` and ``model info --engine pixellm-gpu`` report about the adapter in use."""

    name: str
    backend: str
    adapter_type: str
    software: bool
    driver: str
    limits: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "backend": self.backend, "type": self.adapter_type, "software": self.software,
                "driver": self.driver, "limits": dict(self.limits)}

    def line(self) -> str:
        kind = "software" if self.software else "hardware"
        return f"{self.name} ({self.backend}, {kind} adapter, {self.driver})"


class _ErrorLog(logging.Filter):
    """Keeps wgpu's error messages (a lost device is only logged) for the engine's own one-line error."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        self.messages.append(record.getMessage())
        del self.messages[:-20]
        return False

    @property
    def device_lost(self) -> bool:
        return any("DEVICE LOST" in m or "device was lost" in m for m in self.messages)

    def last(self) -> str:
        lines = [line for m in self.messages for line in m.splitlines() if line.strip() and "DEVICE LOST" not in line]
        return lines[-1].strip() if lines else ""


_LOG = _ErrorLog()


class Gpu:
    """One wgpu device and what it allows; made by :func:`open_gpu`."""

    def __init__(self, wgpu: Any, adapter: Any, device: Any, info: AdapterInfo):
        self.wgpu = wgpu
        self.adapter = adapter
        self.device = device
        self.info = info
        self.lost = False

    @property
    def max_binding(self) -> int:
        """The largest storage buffer one binding may hold, in bytes."""
        return min(self.info.limits["max-storage-buffer-binding-size"], self.info.limits["max-buffer-size"])

    def errors(self) -> tuple[type[BaseException], ...]:
        """The exception types wgpu raises for device errors (validation, memory, a lost device)."""
        return (self.wgpu.GPUError, RuntimeError)

    @contextmanager
    def watch(self, what: str) -> Iterator[None]:
        """Turn a device error inside the block into one InferenceError line; a lost device stays lost."""
        if self.lost:
            raise InferenceError(f"pixellm-gpu: the GPU device ({self.info.name}) was lost earlier; "
                                 "a new engine (a new process) opens it again")
        seen = len(_LOG.messages)
        try:
            yield
        except self.errors() as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[-1].strip()
            logged = _LOG.last() if len(_LOG.messages) > seen else ""
            if _LOG.device_lost or "lost" in str(exc).lower():
                self.lost = True
                raise InferenceError(f"pixellm-gpu: the GPU device was lost while {what} ({self.info.name}): "
                                     f"{logged or detail}; no output was made from it") from None
            raise InferenceError(f"pixellm-gpu: the GPU failed while {what} ({self.info.name}): {detail}") from None


def _import_wgpu() -> Any:
    # Mesa's device-select layer reorders adapters to put the display's first, asking a Wayland or X
    # server on the way (and printing "XDG_RUNTIME_DIR is invalid" without one). The engine picks its
    # adapter itself, so the layer adds nothing here.
    os.environ.setdefault("NODEVICE_SELECT", "1")
    try:
        import wgpu
        from wgpu.backends.wgpu_native.extras import set_instance_extras
    except ImportError as exc:
        raise InferenceError(f"pixellm-gpu needs the wgpu package (pip install wgpu): {exc}") from None
    except Exception as exc:  # wgpu-native failed to load (a missing system library, say)
        raise InferenceError(f"pixellm-gpu: the wgpu native library did not load ({exc}); {INSTALL_HINT}") from None
    if _LOG not in logging.getLogger("wgpu").filters:
        logging.getLogger("wgpu").addFilter(_LOG)
    try:
        set_instance_extras(backends=_BACKENDS)
    except Exception:  # pragma: no cover - the instance exists already (another wgpu user in this process)
        pass
    return wgpu


def _describe(adapter: Any) -> AdapterInfo:
    info = adapter.info
    adapter_type = str(info.get("adapter_type", "Unknown"))
    limits = {name: int(adapter.limits[name]) for name in _LIMITS if name in adapter.limits}
    return AdapterInfo(name=str(info.get("device") or info.get("vendor") or "unknown adapter"),
                       backend=str(info.get("backend_type", "?")), adapter_type=adapter_type,
                       software=adapter_type == "CPU", driver=str(info.get("description") or "-"), limits=limits)


def list_adapters() -> list[AdapterInfo]:
    """Every Vulkan, Metal and Direct3D 12 adapter wgpu finds (empty when there is none)."""
    wgpu = _import_wgpu()
    return [_describe(a) for a in wgpu.gpu.enumerate_adapters_sync()]


def open_gpu(settings: Mapping[str, Any]) -> Gpu:
    """A device on the adapter the settings choose; InferenceError (one line) when there is none."""
    choice = settings.get("adapter") or "auto"
    if choice not in ADAPTER_CHOICES:
        raise ConfigError(f"inference.pixellm-gpu.adapter is {choice!r}; expected one of {', '.join(ADAPTER_CHOICES)}")
    wgpu = _import_wgpu()
    try:
        adapters = list(wgpu.gpu.enumerate_adapters_sync())
    except Exception as exc:
        raise InferenceError(f"pixellm-gpu: listing GPU adapters failed ({exc}); {INSTALL_HINT}") from None
    described = [(a, _describe(a)) for a in adapters]
    hardware = [pair for pair in described if not pair[1].software]
    software = [pair for pair in described if pair[1].software]
    pick = {"auto": hardware + software, "hardware": hardware, "software": software}[choice]
    if not pick:
        found = ", ".join(info.line() for _, info in described) or "none"
        raise InferenceError(f"pixellm-gpu: no usable {'' if choice == 'auto' else choice + ' '}GPU adapter "
                             f"(Vulkan, Metal or Direct3D 12; found: {found}); {INSTALL_HINT}")
    adapter, info = pick[0]
    try:
        device = adapter.request_device_sync(label="pixellm-gpu", required_limits=dict(info.limits))
    except Exception as exc:
        raise InferenceError(f"pixellm-gpu: adapter {info.line()} refused a device: {exc}") from None
    return Gpu(wgpu, adapter, device, info)
