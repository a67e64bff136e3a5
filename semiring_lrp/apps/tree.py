"""The fixed tree that combines chunk results, recursively and streamed.

For n values the tree is

    tree(lo, hi) = values[lo]                                 if hi - lo == 1
                 = combine(tree(lo, lo + p), tree(lo + p, hi)) otherwise,

p the largest power of two strictly below hi - lo. It depends on n alone,
so a reduction combined by it gives the same bits however the values were
produced (batch by batch, or shard by shard on a cluster). Since it splits
at powers of two, the 2**s values of an aligned block [j 2**s, (j+1) 2**s)
form one subtree: blocks may be reduced apart and their results combined
by the same tree.
"""
from __future__ import annotations

__all__ = ["fixed_tree", "TreeStack"]


def fixed_tree(values, combine):
    """The tree over `values` (a non-empty sequence) by recursion; the
    definition `TreeStack` streams."""
    if not values:
        raise ValueError("the tree of no values is undefined")

    def tree(lo, hi):
        if hi - lo == 1:
            return values[lo]
        split = lo + (1 << ((hi - lo - 1).bit_length() - 1))
        return combine(tree(lo, split), tree(split, hi))

    return tree(0, len(values))


class TreeStack:
    """The same tree over values pushed one at a time, in O(log n) memory.

    The stack holds (size, value) pairs, the sizes strictly decreasing: a
    pushed value merges with the top while their sizes are equal, so the
    stack is the binary decomposition of the count so far into complete
    power-of-two subtrees. `fold` then combines from the top, which is the
    recursive tree's right spine. A value may stand for an aligned block of
    `size` leaves (a shard's subtree); every size but the last pushed must
    be the same power of two, and the last may be smaller.
    """

    def __init__(self, combine):
        self.combine = combine
        self.entries = []

    def push(self, value, size=1):
        self.entries.append((size, value))
        while len(self.entries) >= 2 and self.entries[-2][0] == self.entries[-1][0]:
            right_size, right = self.entries.pop()
            left_size, left = self.entries.pop()
            self.entries.append((left_size + right_size, self.combine(left, right)))

    def fold(self):
        """The tree's value over everything pushed."""
        if not self.entries:
            raise ValueError("the tree of no values is undefined")
        while len(self.entries) >= 2:
            right_size, right = self.entries.pop()
            left_size, left = self.entries.pop()
            self.entries.append((left_size + right_size, self.combine(left, right)))
        return self.entries[0][1]

    def __len__(self):
        return len(self.entries)
