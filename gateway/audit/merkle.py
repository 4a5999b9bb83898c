"""RFC 6962 / RFC 9162 Merkle tree over the record hashes.

leaf = SHA-256(0x00 || record hash), node = SHA-256(0x01 || left || right); a tree of n leaves
splits at the largest power of two below n. A *frontier* (the roots of the perfect subtrees that
make up the first n leaves, largest first) lets checkpoints grow incrementally and lets the tree
continue after old leaves are pruned.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(record_hash_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(record_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def frontier_sizes(tree_size: int) -> list[int]:
    """Sizes of the perfect subtrees of a tree of ``tree_size`` leaves, largest first."""
    return [1 << b for b in range(tree_size.bit_length() - 1, -1, -1) if tree_size >> b & 1]


class Frontier:
    """Incremental tree: O(log n) state, O(1) amortised per leaf."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != len(frontier_sizes(size)):
            raise ValueError("frontier does not match tree size")
        self.size = size
        self._stack: list[tuple[int, bytes]] = list(zip(frontier_sizes(size), hashes))

    def append(self, record_hash_hex: str) -> None:
        self._stack.append((1, leaf_hash(record_hash_hex)))
        self.size += 1
        while len(self._stack) >= 2 and self._stack[-1][0] == self._stack[-2][0]:
            (n, right), (_, left) = self._stack.pop(), self._stack.pop()
            self._stack.append((2 * n, node_hash(left, right)))

    @property
    def hashes(self) -> list[bytes]:
        return [h for _, h in self._stack]

    def root(self) -> bytes:
        if not self._stack:
            return hashlib.sha256(b"").digest()  # RFC 6962 root of the empty tree
        root = self._stack[-1][1]
        for _, h in reversed(self._stack[:-1]):
            root = node_hash(h, root)
        return root

    def blocks(self) -> dict[tuple[int, int], bytes]:
        """{(start, end): hash} of the perfect subtrees, for proofs over a pruned prefix."""
        out, start = {}, 0
        for n, h in self._stack:
            out[(start, start + n)] = h
            start += n
        return out


class Tree:
    """Subtree hashes over leaves [base, ...) with the pruned prefix [0, base) known as blocks."""

    def __init__(self, leaf_hashes: Sequence[bytes], base: int = 0,
                 blocks: dict[tuple[int, int], bytes] | None = None) -> None:
        self._leaves, self._base, self._memo = leaf_hashes, base, dict(blocks or {})

    def hash(self, start: int, end: int) -> bytes:
        known = self._memo.get((start, end))
        if known is not None:
            return known
        if end - start == 1:
            if start < self._base:
                raise LookupError(f"leaf {start} was pruned")
            return self._leaves[start - self._base]
        k = _split(end - start)
        value = node_hash(self.hash(start, start + k), self.hash(start + k, end))
        self._memo[(start, end)] = value
        return value

    def audit_path(self, index: int, size: int) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]), leaf-side first."""
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self.hash(start + k, end))
                end = start + k
            else:
                path.append(self.hash(start, start + k))
                start += k
        return list(reversed(path))


def root_from_path(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root implied by an inclusion proof, or None when malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


