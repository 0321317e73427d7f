// y[t, row0 + r] (=|+=) dot(W[r, :], x[t, :]) (+ B[row0 + r]) for the rows of one weight chunk.
//
// One workgroup per (output row, block of up to TB tokens). Its threads stride
// over the row's columns four at a time; each weight is decoded once and used
// for every token of the block (a prompt step reads the weights once per TB
// tokens, a decode step has one token). Then the threads sum their parts.
// The weights are read in the container's own encoding through W_at4/W_at
// (see decode.py).

struct Params {
    rows: u32,      // rows in this chunk
    cols: u32,      // input features
    y_stride: u32,  // output features (all chunks)
    row0: u32,      // the chunk's first row
    last_only: u32, // 1: read the last token of the step only, write output row 0
}


@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> part: array<f32, WG * TB>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let row = wid.x + wid.y * 32768u;
    if (row >= p.rows) {
        return;
    }
    var t0 = wid.z * TB;
    var out0 = t0;
    var count = min(TB, step.n - t0);
    if (p.last_only == 1u) {
        t0 = step.n - 1u;
        out0 = 0u;
        count = 1u;
    }
    let w0 = row * p.cols;
    var acc: array<f32, TB>;
    if (VECTOR) {
        for (var k = tid * 4u; k < p.cols; k += WG * 4u) {
            let w = W_at4(w0 + k);
            for (var t = 0u; t < count; t++) {
                let x0 = (t0 + t) * p.cols + k;
                acc[t] += dot(w, vec4<f32>(x[x0], x[x0 + 1u], x[x0 + 2u], x[x0 + 3u]));
            }
        }
    } else {
        for (var k = tid; k < p.cols; k += WG) {
            let w = W_at(w0 + k);
            for (var t = 0u; t < count; t++) {
                acc[t] += w * x[(t0 + t) * p.cols + k];
            }
        }
    }
    for (var t = 0u; t < TB; t++) {
        part[t * WG + tid] = acc[t];
    }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            for (var t = 0u; t < count; t++) {
                part[t * WG + tid] += part[t * WG + tid + s];
            }
        }
        workgroupBarrier();
    }
    if (tid < count) {
        let out = (out0 + tid) * p.y_stride + p.row0 + row;
        var value = part[tid * WG] BIAS;
        y[out] = ACCUMULATE value;
    }
}
