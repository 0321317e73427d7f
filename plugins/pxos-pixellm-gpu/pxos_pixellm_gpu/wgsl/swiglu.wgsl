// h[t, row0 + r] = silu(dot(G[r, :], x[t, :])) * dot(U[r, :], x[t, :]): the gated MLP's first half.
// Blocks of up to TB tokens per workgroup, as in linear.wgsl.

struct Params { rows: u32, cols: u32, y_stride: u32, row0: u32, unused: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;


var<workgroup> gate_part: array<f32, WG * TB>;
var<workgroup> up_part: array<f32, WG * TB>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let row = wid.x + wid.y * 32768u;
    if (row >= p.rows) {
        return;
    }
    let t0 = wid.z * TB;
    let count = min(TB, step.n - t0);
    let w0 = row * p.cols;
    var gate: array<f32, TB>;
    var up: array<f32, TB>;
    if (VECTOR) {
        for (var k = tid * 4u; k < p.cols; k += WG * 4u) {
            let g = G_at4(w0 + k);
            let u = U_at4(w0 + k);
            for (var t = 0u; t < count; t++) {
                let x0 = (t0 + t) * p.cols + k;
                let xs = vec4<f32>(x[x0], x[x0 + 1u], x[x0 + 2u], x[x0 + 3u]);
                gate[t] += dot(g, xs);
                up[t] += dot(u, xs);
            }
        }
    } else {
        for (var k = tid; k < p.cols; k += WG) {
            let g = G_at(w0 + k);
            let u = U_at(w0 + k);
            for (var t = 0u; t < count; t++) {
                let v = x[(t0 + t) * p.cols + k];
                gate[t] += g * v;
                up[t] += u * v;
            }
        }
    }
    for (var t = 0u; t < TB; t++) {
        gate_part[t * WG + tid] = gate[t];
        up_part[t * WG + tid] = up[t];
    }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            for (var t = 0u; t < count; t++) {
                gate_part[t * WG + tid] += gate_part[t * WG + tid + s];
                up_part[t * WG + tid] += up_part[t * WG + tid + s];
            }
        }
        workgroupBarrier();
    }
    if (tid < count) {
        let g = gate_part[tid * WG];
        y[(t0 + tid) * p.y_stride + p.row0 + row] = g / (1.0 + exp(-g)) * up_part[tid * WG];
    }
}
