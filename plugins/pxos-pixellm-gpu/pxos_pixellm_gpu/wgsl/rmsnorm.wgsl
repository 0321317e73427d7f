// y[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * W[:], one workgroup per token.

struct Params { width: u32, eps: f32, last_only: u32, unused: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    var t = wid.z;
    if (p.last_only == 1u) {
        t = step.n - 1u;
    }
    let x0 = t * p.width;
    var acc = 0.0;
    for (var i = tid; i < p.width; i += WG) {
        let v = x[x0 + i];
        acc += v * v;
    }
    part[tid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            part[tid] += part[tid + s];
        }
        workgroupBarrier();
    }
    let root = sqrt(part[0] / f32(p.width) + p.eps);
    for (var i = tid; i < p.width; i += WG) {
        y[x0 + i] = x[x0 + i] / root * W_at(i);
    }
}
