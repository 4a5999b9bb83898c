"""The Merkle tree against a direct transcription of RFC 6962 §2.1."""
from __future__ import annotations

import hashlib

import pytest

from gateway.audit.merkle import Frontier, Tree, leaf_hash, node_hash, root_from_path


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def record_hashes(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


@pytest.mark.parametrize("n", range(41))
def test_frontier_root_matches_rfc6962(n: int) -> None:
    hashes = record_hashes(n)
    frontier = Frontier()
    for h in hashes:
        frontier.append(h)
    assert frontier.root() == mth([leaf_hash(h) for h in hashes])


def test_frontier_resumes_from_its_hashes() -> None:
    hashes = record_hashes(23)
    first = Frontier()
    for h in hashes[:13]:
        first.append(h)
    resumed = Frontier(13, first.hashes)
    for h in hashes[13:]:
        resumed.append(h)
    assert resumed.root() == mth([leaf_hash(h) for h in hashes])


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 33])
def test_every_audit_path_verifies_and_a_wrong_one_does_not(size: int) -> None:
    leaves = [leaf_hash(h) for h in record_hashes(size)]
    root = mth(leaves)
    tree = Tree(leaves)
    for index in range(size):
        path = tree.audit_path(index, size)
        assert root_from_path(index, size, leaves[index], path) == root
        other = leaves[(index + 1) % size]
        if size > 1:
            assert root_from_path(index, size, other, path) != root
            assert root_from_path((index + 1) % size, size, leaves[index], path) != root


def test_paths_over_a_pruned_prefix_use_the_frontier_blocks() -> None:
    hashes = record_hashes(29)
    leaves = [leaf_hash(h) for h in hashes]
    prefix = Frontier()
    for h in hashes[:11]:
        prefix.append(h)
    pruned = Tree(leaves[11:], base=11, blocks=prefix.blocks())
    full = Tree(leaves)
    for index in range(11, 29):
        assert pruned.audit_path(index, 29) == full.audit_path(index, 29)
    with pytest.raises(LookupError):
        pruned.audit_path(3, 29)
