"""Pruned and int8 weights, stored as one compressed byte string (see distill.compress).

- :func:`prune_weights`: L1 (magnitude) pruning of every ``Linear`` and ``Embedding``
  weight with ``torch.nn.utils.prune``, made permanent (``prune.remove``): the smallest
  ``amount`` of each matrix become exact zeros.
- :func:`quantize_int8`: symmetric int8 with one scale per output feature (a ``Linear``'s
  rows, an ``Embedding``'s columns): ``s = max|w| / 127`` over the feature (kept as
  float16: half the bytes, and its rounding is far below int8's), ``q = round(w / s)``,
  and ``w ~ q * s``.
- :func:`pack` / :func:`unpack`: the weights as one zlib-compressed byte string: the int8
  values of every quantized matrix, then their float16 scales, then the float32 tensors
  left as they are (biases), all in ``state_dict`` order. Shapes come from the model the
  artifact's spec rebuilds, so the payload holds numbers only and loads with
  ``torch.load(weights_only=True)`` as a plain uint8 tensor. Deflate also turns pruned
  zeros into saved bytes, with no sparse format of our own.

Why not ``torch.ao.quantization.quantize_dynamic``: it quantizes ``Linear`` layers only,
and the graph-free student keeps over 90% of its weights in embedding tables (customer
ids, categories, brands); its packed modules do not load with ``weights_only=True``; and
on matrices 24 wide int8 kernels buy no speed on a CPU. So int8 here is a storage
format: loading dequantizes once and the model computes in float32, which also keeps
ONNX export and every scoring path unchanged.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import prune
from torch_geometric.nn.dense.linear import Linear as PygLinear

QUANTIZE: tuple[str, ...] = ("int8",)
M = TypeVar("M", bound=nn.Module)

PACKING = "zlib-v1"  # the layout of :func:`pack`; bump when it changes


@dataclass(frozen=True)
class Compression:
    """What was done to a model: ``prune`` (share of each weight matrix zeroed) and
    ``quantize`` (``int8`` or None: float32 values)."""

    prune: float = 0.0
    quantize: str | None = "int8"

    def __post_init__(self) -> None:
        if not 0.0 <= self.prune < 1.0:
            raise ValueError(f"prune amount must be in [0, 1), got {self.prune}")
        if self.quantize is not None and self.quantize not in QUANTIZE:
            raise ValueError(f"quantize must be one of {QUANTIZE} or none, got {self.quantize!r}")
        if self.prune == 0.0 and self.quantize is None:
            raise ValueError("nothing to do: give a prune amount, int8 quantization, or both")

    def suffix(self) -> str:
        """``_p30_int8``, ``_int8``, ``_p30``: appended to the source model's name."""
        parts = [f"p{round(self.prune * 100)}"] if self.prune > 0 else []
        if self.quantize is not None:
            parts.append(self.quantize)
        return "_" + "_".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"prune": self.prune, "quantize": self.quantize, "packing": PACKING}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Compression:
        if state.get("packing") != PACKING:
            raise ValueError(f"unknown weight packing {state.get('packing')!r}; this is {PACKING}")
        return cls(prune=float(state["prune"]), quantize=state.get("quantize"))


def weight_axes(model: nn.Module) -> dict[str, int]:
    """``state_dict`` key -> the axis of output features, for every weight matrix that is
    pruned and quantized: ``Linear`` weights [out, in] -> 0, ``Embedding`` [rows, dim] -> 1."""
    axes: dict[str, int] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, (nn.Linear, PygLinear)) and module.weight.dim() == 2:
            axes[f"{prefix}weight"] = 0
        elif isinstance(module, nn.Embedding):
            axes[f"{prefix}weight"] = 1
    return axes


def prune_weights(model: M, amount: float) -> M:
    """Zero the ``amount`` smallest-magnitude entries of each weight matrix, in place,
    permanently (the pruning mask is folded into the weight)."""
    if amount <= 0.0:
        return model
    for module in model.modules():
        if isinstance(module, (nn.Linear, PygLinear, nn.Embedding)) and module.weight.dim() == 2:
            prune.l1_unstructured(module, name="weight", amount=amount)
            prune.remove(module, "weight")
    return model


def quantize_int8(weight: Tensor, axis: int) -> tuple[Tensor, Tensor]:
    """Symmetric int8 with one float16 scale per slice along ``axis``.

    The values are rounded against the float16 scale as stored, so ``q * s`` is exactly
    what loading gives back. Scales stop at float16's smallest step (2^-24), so an
    all-zero slice stays zero.

    Shapes: weight [R, C], axis 0 -> q int8 [R, C], scales float16 [R]; axis 1 -> [C].
    """
    other = 1 - axis
    w = weight.detach().float()
    scales = (w.abs().amax(dim=other) / 127.0).clamp(min=2.0**-24).half()
    if torch.isinf(scales).any():
        raise ValueError("a weight is too large for int8 with float16 scales (|w| > 8e6)")
    q = torch.round(w / scales.float().unsqueeze(other)).clamp(-127, 127).to(torch.int8)
    return q, scales


def pack(model: nn.Module, compression: Compression) -> bytes:
    """The model's weights as :data:`PACKING` bytes (see the module docstring)."""
    axes = weight_axes(model) if compression.quantize == "int8" else {}
    ints: list[np.ndarray] = []
    scales: list[np.ndarray] = []
    floats: list[np.ndarray] = []
    for key, value in model.state_dict().items():
        if not value.is_floating_point():
            raise ValueError(f"cannot pack {key}: {value.dtype} is not a float tensor")
        if key in axes:
            q, s = quantize_int8(value, axes[key])
            ints.append(q.numpy().ravel())
            scales.append(s.numpy())
        else:
            floats.append(value.detach().float().numpy().ravel())
    raw = b"".join(
        np.concatenate(parts).astype(dtype).tobytes()
        for parts, dtype in ((ints, np.int8), (scales, np.float16), (floats, np.float32))
        if parts
    )
    return zlib.compress(raw, 9)


def unpack(model: M, payload: bytes, compression: Compression) -> M:
    """Load :func:`pack`'s bytes into ``model`` (built from the same spec), dequantized."""
    axes = weight_axes(model) if compression.quantize == "int8" else {}
    state = model.state_dict()
    n_int = sum(state[k].numel() for k in axes)
    n_scale = sum(state[k].shape[axis] for k, axis in axes.items())
    n_float = sum(v.numel() for k, v in state.items() if k not in axes)
    raw = zlib.decompress(payload)
    expected = n_int + 2 * n_scale + 4 * n_float
    if len(raw) != expected:
        raise ValueError(
            f"packed weights hold {len(raw)} bytes; this model needs {expected} "
            "(the artifact's spec and weights disagree)"
        )
    ints = np.frombuffer(raw, np.int8, n_int)
    scales = np.frombuffer(raw, np.float16, n_scale, offset=n_int)
    floats = np.frombuffer(raw, np.float32, n_float, offset=n_int + 2 * n_scale)
    at_int = at_scale = at_float = 0
    loaded: dict[str, Tensor] = {}
    for key, value in state.items():
        n = value.numel()
        if key in axes:
            axis = axes[key]
            q = torch.from_numpy(ints[at_int : at_int + n].astype(np.float32)).view(value.shape)
            s = torch.from_numpy(scales[at_scale : at_scale + value.shape[axis]].astype(np.float32))
            loaded[key] = q * s.unsqueeze(1 - axis)
            at_int += n
            at_scale += value.shape[axis]
        else:
            loaded[key] = torch.from_numpy(floats[at_float : at_float + n].copy()).view(value.shape)
            at_float += n
    model.load_state_dict(loaded)
    return model


def compress_model(model: M, compression: Compression) -> tuple[M, bytes]:
    """Prune ``model`` in place, pack it, and load the packed weights back (so the model
    returned computes exactly what its artifact will). Returns the model and the payload."""
    prune_weights(model, compression.prune)
    payload = pack(model, compression)
    unpack(model, payload, compression)
    model.eval()
    return model, payload


def stored_bytes(payload: bytes) -> int:
    """Bytes of ``torch.save`` of the packed weights: comparable with
    :func:`distill.metrics.state_dict_bytes` of a float32 model."""
    buffer = io.BytesIO()
    torch.save({"packed": payload_tensor(payload)}, buffer)
    return buffer.getbuffer().nbytes


def payload_tensor(payload: bytes) -> Tensor:
    return torch.frombuffer(bytearray(payload), dtype=torch.uint8)


def nonzero_parameters(model: nn.Module) -> int:
    return sum(int(torch.count_nonzero(p)) for p in model.parameters())
