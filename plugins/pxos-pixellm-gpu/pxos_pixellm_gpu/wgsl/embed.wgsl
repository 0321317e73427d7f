// x[t, :] = W[ids[t] - row0, :] for the tokens whose row lies in this chunk of the embedding.

struct Params { width: u32, row0: u32, rows: u32, unused: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let t = gid.z;
    if (i >= p.width) {
        return;
    }
    let id = ids[t];
    if (id >= p.row0 && id < p.row0 + p.rows) {
        x[t * p.width + i] = W_at((id - p.row0) * p.width + i);
    }
}
