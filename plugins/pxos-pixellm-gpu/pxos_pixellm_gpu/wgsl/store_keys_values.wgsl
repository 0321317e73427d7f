// The KV cache: k rotated (as rotate_queries does q) and v copied into the
// cache at position start + t. Cache layout: [kv head][position][head dim].

struct Params { kv_heads: u32, head_dim: u32, capacity: u32, unused: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> cos_table: array<f32>;
@group(0) @binding(3) var<storage, read> sin_table: array<f32>;
@group(0) @binding(4) var<storage, read> k: array<f32>;
@group(0) @binding(5) var<storage, read> v: array<f32>;
@group(0) @binding(6) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(7) var<storage, read_write> v_cache: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;  // over kv_heads * head_dim
    let t = gid.z;
    if (j >= p.kv_heads * p.head_dim) {
        return;
    }
    let half = p.head_dim / 2u;
    let head = j / p.head_dim;
    let i = j % p.head_dim;
    let pos = step.start + t;
    let src = t * p.kv_heads * p.head_dim + j;
    let dst = (head * p.capacity + pos) * p.head_dim + i;
    v_cache[dst] = v[src];
    let c = cos_table[pos * half + i % half];
    let s = sin_table[pos * half + i % half];
    if (i < half) {
        k_cache[dst] = k[src] * c - k[src + half] * s;
    } else {
        k_cache[dst] = k[src] * c + k[src - half] * s;
    }
}
