"""WGSL that reads a weight in the encoding the model container stores it in.

A kernel names its weights by slot (``W``, ``G``, ``U``, ``B``) and calls
``W_at(i)`` for element ``i`` of the row-major tensor, or ``W_at4(i)`` for the
four elements from ``i`` (``i`` a multiple of 4). This module writes those
functions for one encoding, over storage buffers that hold the payload bytes
as the PNG stores them, so nothing is converted on the host:

``fp32``  one ``u32`` word per value, reinterpreted;
``fp16``  two values a word, ``unpack2x16float``;
``bf16``  two values a word, each the top half of an fp32;
``int8``  four codes a word (``extractBits`` sign-extends them) in one buffer,
          the fp16 scales (one per block of 32 codes) in a second buffer.

Slot ``k`` of a kernel uses bind group 1, bindings ``2k`` (the values or
codes) and ``2k + 1`` (int8 scales).
"""

from __future__ import annotations

from pxos_kernel import InferenceError

#: The encodings the kernels decode (pixellm's ``uint8`` per-tensor baseline is not among them).
GPU_ENCODINGS = ("fp32", "fp16", "bf16", "int8")
BLOCK = 32  # int8 values per fp16 scale, as pxos-pixellm stores them

_BODIES = {
    "fp32": """
fn {s}_at(i: u32) -> f32 {{ return bitcast<f32>({s}_words[i]); }}
fn {s}_at4(i: u32) -> vec4<f32> {{
    return bitcast<vec4<f32>>(vec4<u32>({s}_words[i], {s}_words[i + 1u], {s}_words[i + 2u], {s}_words[i + 3u]));
}}
""",
    "fp16": """
fn {s}_at(i: u32) -> f32 {{
    let pair = unpack2x16float({s}_words[i >> 1u]);
    return select(pair.x, pair.y, (i & 1u) == 1u);
}}
fn {s}_at4(i: u32) -> vec4<f32> {{
    return vec4<f32>(unpack2x16float({s}_words[i >> 1u]), unpack2x16float({s}_words[(i >> 1u) + 1u]));
}}
""",
    "bf16": """
fn {s}_at(i: u32) -> f32 {{
    let word = {s}_words[i >> 1u];
    return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (i & 1u) == 1u));
}}
fn {s}_at4(i: u32) -> vec4<f32> {{
    let a = {s}_words[i >> 1u];
    let b = {s}_words[(i >> 1u) + 1u];
    return bitcast<vec4<f32>>(vec4<u32>(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));
}}
""",
    "int8": """
fn {s}_scale(block: u32) -> f32 {{
    let pair = unpack2x16float({s}_scales[block >> 1u]);
    return select(pair.x, pair.y, (block & 1u) == 1u);
}}
fn {s}_at(i: u32) -> f32 {{
    let code = extractBits(bitcast<i32>({s}_words[i >> 2u]), (i & 3u) * 8u, 8u);
    return f32(code) * {s}_scale(i / 32u);
}}
fn {s}_at4(i: u32) -> vec4<f32> {{
    let word = bitcast<i32>({s}_words[i >> 2u]);
    let codes = vec4<i32>(extractBits(word, 0u, 8u), extractBits(word, 8u, 8u), extractBits(word, 16u, 8u),
                          extractBits(word, 24u, 8u));
    return vec4<f32>(codes) * {s}_scale(i / 32u);
}}
""",
}


def check_encoding(name: str, encoding: str) -> None:
    """Raise InferenceError (one line) for an encoding the kernels cannot read."""
    if encoding not in GPU_ENCODINGS:
        hint = (" (the seed's per-tensor baseline; convert the model again with --encoding int8)"
                if encoding == "uint8" else "")
        raise InferenceError(f"tensor {name} is stored as {encoding}{hint}: the pixellm-gpu kernels read "
                             f"{', '.join(GPU_ENCODINGS)}")


def decoder(slot: str, index: int, encoding: str) -> str:
    """The bindings and ``{slot}_at``/``{slot}_at4`` functions of weight slot ``index`` in ``encoding``."""
    check_encoding(slot, encoding)
    lines = [f"@group(1) @binding({2 * index}) var<storage, read> {slot}_words: array<u32>;"]
    if encoding == "int8":
        lines.append(f"@group(1) @binding({2 * index + 1}) var<storage, read> {slot}_scales: array<u32>;")
    return "\n".join(lines) + _BODIES[encoding].format(s=slot)
