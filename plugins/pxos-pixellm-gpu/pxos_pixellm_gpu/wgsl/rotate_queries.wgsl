// q[t, head, :] rotated in place by position start + t: rotary position
// embeddings in Hugging Face's rotate-half layout, from host-made cos/sin tables.

struct Params { heads: u32, head_dim: u32, unused0: u32, unused1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> cos_table: array<f32>;
@group(0) @binding(3) var<storage, read> sin_table: array<f32>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let half = p.head_dim / 2u;
    let j = gid.x;  // over heads * half
    let t = gid.z;
    if (j >= p.heads * half) {
        return;
    }
    let head = j / half;
    let i = j % half;
    let pos = step.start + t;
    let c = cos_table[pos * half + i];
    let s = sin_table[pos * half + i];
    let base = (t * p.heads + head) * p.head_dim;
    let first = q[base + i];
    let second = q[base + i + half];
    q[base + i] = first * c - second * s;
    q[base + i + half] = second * c + first * s;
}
