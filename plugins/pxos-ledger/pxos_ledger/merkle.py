"""Merkle inclusion proofs of ledger records (RFC 9162, sections 2.1.3.1 and 2.1.3.2).

Leaves and inner nodes are hashed by the kernel (``leaf_hash``, ``node_hash``,
``merkle_root``); this module builds the audit path of one leaf and checks it.
A proof carries the record, its leaf index, the audit path and the sealed head,
so a reader can check it without the ledger.
"""

from __future__ import annotations

from typing import Optional

from pxos_kernel import check_head_signature, leaf_hash, merkle_root, node_hash, record_hash


def audit_path(index: int, leaves: list[str]) -> list[str]:
    """``PATH(m, D[n])``: the sibling hashes from leaf ``index`` up to the root."""
    n = len(leaves)
    if n <= 1:
        return []
    split = 1 << ((n - 1).bit_length() - 1)
    if index < split:
        return audit_path(index, leaves[:split]) + [merkle_root(leaves[split:])]
    return audit_path(index - split, leaves[split:]) + [merkle_root(leaves[:split])]


def root_from_path(index: int, size: int, leaf: str, path: list[str]) -> Optional[str]:
    """The root a path leads to (RFC 9162 2.1.3.2), or ``None`` when the path has the wrong shape."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(sibling, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, sibling)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def make_proof(record: dict, leaves: list[str], head: dict) -> dict:
    index = record["seq"] - 1
    return {"format": "pxos-ledger-proof", "version": 1, "record": record, "leaf_index": index,
            "tree_size": head["tree_size"], "path": audit_path(index, leaves), "head": head}


def check_proof(proof: dict, key: Optional[bytes]) -> Optional[str]:
    """What is wrong with ``proof`` (or ``None`` when it proves its record is in the sealed ledger)."""
    if not isinstance(proof, dict) or proof.get("format") != "pxos-ledger-proof":
        return "not a pxos-ledger-proof document"
    missing = [f for f in ("record", "leaf_index", "tree_size", "path", "head") if f not in proof]
    if missing:
        return f"the proof lacks {', '.join(missing)}"
    head, record = proof["head"], proof["record"]
    problem = check_head_signature(head, key)
    if problem:
        return problem
    if proof["tree_size"] != head["tree_size"]:
        return f"the proof is for a tree of {proof['tree_size']} records, the head seals {head['tree_size']}"
    if not isinstance(record, dict) or record.get("seq") != proof["leaf_index"] + 1:
        return "the record's seq does not match the leaf index"
    if key is not None and record.get("hash") != record_hash(record, key):
        return "the record's HMAC does not match: it was edited"
    root = root_from_path(proof["leaf_index"], proof["tree_size"], leaf_hash(record), list(proof["path"]))
    if root is None:
        return "the audit path has the wrong length for this leaf and tree size"
    if root != head["root"]:
        return "the audit path does not lead to the sealed root: the record or the path was altered"
    return None
