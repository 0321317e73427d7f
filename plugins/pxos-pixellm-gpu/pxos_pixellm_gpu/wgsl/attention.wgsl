// Causal attention over the KV cache, grouped key/value heads, optional sliding window.
//
// One workgroup per (query head, token). The row at position pos = start + t
// sees cached positions first..pos (first > 0 only with a sliding window).
// The phases share a scores row in storage: scores and their maximum, the
// exponentials and their sum, the probabilities (divided once each, as numpy
// does), then each output dimension's weighted sum.

struct Params { heads: u32, kv_heads: u32, head_dim: u32, capacity: u32, window: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let head = wid.x;
    let t = wid.z;
    let kv = head / (p.heads / p.kv_heads);
    let pos = step.start + t;
    var first = 0u;
    if (p.window > 0u && pos + 1u > p.window) {
        first = pos + 1u - p.window;
    }
    let visible = pos + 1u - first;
    let q0 = (t * p.heads + head) * p.head_dim;
    let row = (t * p.heads + head) * p.capacity;
    let cache0 = kv * p.capacity * p.head_dim;

    var best = -3.4e38;
    for (var j = tid; j < visible; j += WG) {
        let key = cache0 + (first + j) * p.head_dim;
        var s = 0.0;
        for (var i = 0u; i < p.head_dim; i++) {
            s += q[q0 + i] * k_cache[key + i];
        }
        s *= p.scale;
        scores[row + j] = s;
        best = max(best, s);
    }
    part[tid] = best;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            part[tid] = max(part[tid], part[tid + s]);
        }
        workgroupBarrier();
    }
    let top = part[0];
    workgroupBarrier();

    var total = 0.0;
    for (var j = tid; j < visible; j += WG) {
        let e = exp(scores[row + j] - top);
        scores[row + j] = e;
        total += e;
    }
    part[tid] = total;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            part[tid] += part[tid + s];
        }
        workgroupBarrier();
    }
    let sum = part[0];
    for (var j = tid; j < visible; j += WG) {
        scores[row + j] = scores[row + j] / sum;
    }
    storageBarrier();

    for (var i = tid; i < p.head_dim; i += WG) {
        var acc = 0.0;
        for (var j = 0u; j < visible; j++) {
            acc += scores[row + j] * v_cache[cache0 + (first + j) * p.head_dim + i];
        }
        out[q0 + i] = acc;
    }
}
