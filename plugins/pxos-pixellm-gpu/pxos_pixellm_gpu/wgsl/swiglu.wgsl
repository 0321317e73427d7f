// h[t, row0 + r] = silu(dot(G[r, :], x[t, :])) * dot(U[r, :], x[t, :]): the gated MLP's first half.

struct Params { rows: u32, cols: u32, y_stride: u32, row0: u32, unused: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> gate_part: array<f32, WG>;
var<workgroup> up_part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let row = wid.x + wid.y * 32768u;
    if (row >= p.rows) {
        return;
    }
    let t = wid.z;
    let w0 = row * p.cols;
    let x0 = t * p.cols;
    var gate = 0.0;
    var up = 0.0;
    if (VECTOR) {
        for (var k = tid * 4u; k < p.cols; k += WG * 4u) {
            let xs = vec4<f32>(x[x0 + k], x[x0 + k + 1u], x[x0 + k + 2u], x[x0 + k + 3u]);
            gate += dot(G_at4(w0 + k), xs);
            up += dot(U_at4(w0 + k), xs);
        }
    } else {
        for (var k = tid; k < p.cols; k += WG) {
            gate += G_at(w0 + k) * x[x0 + k];
            up += U_at(w0 + k) * x[x0 + k];
        }
    }
    gate_part[tid] = gate;
    up_part[tid] = up;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            gate_part[tid] += gate_part[tid + s];
            up_part[tid] += up_part[tid + s];
        }
        workgroupBarrier();
    }
    if (tid == 0u) {
        let g = gate_part[0];
        y[t * p.y_stride + p.row0 + row] = g / (1.0 + exp(-g)) * up_part[0];
    }
}
