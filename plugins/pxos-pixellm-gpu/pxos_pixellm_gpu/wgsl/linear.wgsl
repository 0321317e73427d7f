// y[t, row0 + r] (=|+=) dot(W[r, :], x[t, :]) (+ B[row0 + r]) for the rows of one weight chunk.
//
// One workgroup per (output row, token); its threads stride over the row's
// columns four at a time, then sum their parts. The weights are read in the
// container's own encoding through W_at4/W_at (see decode.py).

struct Params {
    rows: u32,      // rows in this chunk
    cols: u32,      // input features
    y_stride: u32,  // output features (all chunks)
    row0: u32,      // the chunk's first row
    last_only: u32, // 1: read the last token of the step only, write output row 0
}

struct Step { start: u32, n: u32, unused0: u32, unused1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let row = wid.x + wid.y * 32768u;
    if (row >= p.rows) {
        return;
    }
    var t = wid.z;
    var out_t = wid.z;
    if (p.last_only == 1u) {
        t = step.n - 1u;
        out_t = 0u;
    }
    let w0 = row * p.cols;
    let x0 = t * p.cols;
    var acc = 0.0;
    if (VECTOR) {
        for (var k = tid * 4u; k < p.cols; k += WG * 4u) {
            let xs = vec4<f32>(x[x0 + k], x[x0 + k + 1u], x[x0 + k + 2u], x[x0 + k + 3u]);
            acc += dot(W_at4(w0 + k), xs);
        }
    } else {
        for (var k = tid; k < p.cols; k += WG) {
            acc += W_at(w0 + k) * x[x0 + k];
        }
    }
    part[tid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            part[tid] += part[tid + s];
        }
        workgroupBarrier();
    }
    if (tid == 0u) {
        let out = out_t * p.y_stride + p.row0 + row;
        var value = part[0] BIAS;
        y[out] = ACCUMULATE value;
    }
}
