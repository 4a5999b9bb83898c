"""One hypothesis strategy for the byte-level corruption both text-format adapters are fuzzed with."""
from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st


@st.composite
def corrupted(draw: st.DrawFn, seeds: Sequence[bytes], special: Sequence[bytes], *, max_edits: int,
              max_delete: int, max_chunk: int) -> bytes:
    """A valid seed input with up to ``max_edits`` inserts, deletes, replacements or truncations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, max_edits))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(("insert", "delete", "replace", "truncate")))
        if action == "truncate":
            del data[at:]
        elif action == "delete":
            del data[at:at + draw(st.integers(1, max_delete))]
        else:
            chunk = draw(st.one_of(st.sampled_from(special), st.binary(min_size=1, max_size=max_chunk)))
            data[at:at + (len(chunk) if action == "replace" else 0)] = chunk
    return bytes(data)
