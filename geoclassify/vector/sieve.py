"""A block-wise sieve: regions under a size take the class of their largest neighbour, for rasters of any size.

The rule, made independent of the block size so that a block-wise run equals a whole-raster run (tested):
regions are 4-connected pixels of one class. In rounds, every region of fewer than `threshold` pixels takes the
class of its largest neighbouring region (ties: the one whose first pixel comes first in row-major order) when
that neighbour is larger than itself (by size, then first pixel), following chains (a small region merged into
a small neighbour that is itself merged takes that neighbour's final class); then regions of one class that now
touch become one, with their sizes added, and the next round starts, until no small region has a larger
neighbour. Nodata is nobody's neighbour, so a small region with no larger neighbour (an island in nodata) is
kept. This is GDAL's sieve (merge into the largest neighbour) without its dependence on the scanning order.

Two passes over the raster in row strips. Pass 1 labels each strip, links the pieces of regions cut by strip
edges and records, per piece, its size, class and first pixel and which pieces touch (memory: a few numbers per
region piece, never per pixel). The rounds of merges run on these tables, as a graph of regions. Pass 2
relabels each strip (the same labels) and rewrites the classes of the merged pieces.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geoclassify.vector.classes import Strip
from geoclassify.vector.labels import StripLabels, label_regions, neighbour_pairs


def components(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected component of each of `n` nodes joined by `edges` (k, 2)."""
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def piece_ids(labels: np.ndarray, offset: int) -> np.ndarray:
    """Raster-wide piece ids of a row of strip labels (-1 outside the mask)."""
    return np.where(labels > 0, labels.astype(np.int64) - 1 + offset, -1)


def seam_pairs(above: np.ndarray, below: np.ndarray, same_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pieces facing each other across a strip edge (piece ids, -1 nodata): (same class, different class)."""
    both = (above >= 0) & (below >= 0)
    codes = np.unique(np.column_stack([above[both], below[both], same_class[both]]), axis=0)
    same = codes[:, 2] == 1
    return codes[same, :2], codes[~same, :2]


class RegionTable:
    """Pass 1: every strip's region pieces, which of them belong together and which touch."""

    def __init__(self) -> None:
        self.sizes: list[np.ndarray] = []
        self.classes: list[np.ndarray] = []
        self.first: list[np.ndarray] = []
        self.joins: list[np.ndarray] = [np.zeros((0, 2), np.int64)]
        self.touches: list[np.ndarray] = [np.zeros((0, 2), np.int64)]
        self.offsets: list[int] = []
        self.pieces = 0
        self._bottom: tuple[np.ndarray, np.ndarray] | None = None  # piece ids and classes along the last bottom row

    def add(self, lab: StripLabels) -> None:
        """Record the next strip's labelled pieces (strips in order, top to bottom) and link them to the strip above."""
        offset = self.pieces
        self.offsets.append(offset)
        self.sizes.append(np.bincount(lab.labels.ravel(), minlength=lab.count + 1)[1:])
        self.classes.append(lab.classes[1:])
        self.first.append(lab.first[1:])
        self.touches.append(neighbour_pairs(lab.labels) - 1 + offset)
        self.pieces += lab.count
        if self._bottom is not None:
            above, above_classes = self._bottom
            same = above_classes == lab.classes[lab.labels[0]]
            joins, touches = seam_pairs(above, piece_ids(lab.labels[0], offset), same)
            self.joins.append(joins)
            self.touches.append(touches)
        self._bottom = piece_ids(lab.labels[-1], offset), lab.classes[lab.labels[-1]]

    def piece_classes(self) -> np.ndarray:
        """The input class of every piece recorded so far, in piece id order."""
        return np.concatenate(self.classes) if self.classes else np.zeros(0, np.int64)

    def decide(self, threshold: float) -> tuple[np.ndarray, int]:
        """The class of every piece after the sieve, and how many input regions changed class."""
        piece_classes = self.piece_classes()
        if not self.pieces:
            return piece_classes, 0
        region = components(self.pieces, np.concatenate(self.joins))
        graph = RegionGraph.of_pieces(region, np.concatenate(self.sizes), np.concatenate(self.first),
                                      piece_classes, np.concatenate(self.touches))
        original = graph.classes
        while graph.merge_small(threshold):
            pass
        final = graph.classes[graph.member]
        return final[region], int(np.count_nonzero(final != original))


class RegionGraph:
    """Regions (size, first pixel, class) and which touch; `member` maps the input regions onto them."""

    def __init__(self, size: np.ndarray, first: np.ndarray, classes: np.ndarray, pairs: np.ndarray,
                 member: np.ndarray):
        self.size, self.first, self.classes, self.pairs, self.member = size, first, classes, pairs, member

    @classmethod
    def of_pieces(cls, region: np.ndarray, sizes: np.ndarray, first: np.ndarray, classes: np.ndarray,
                  touches: np.ndarray) -> "RegionGraph":
        """The graph of the regions that `region` assigns the pieces to."""
        graph = cls(sizes, first, classes, touches, np.arange(region.max() + 1))
        graph._contract(region)
        return graph

    def _contract(self, group: np.ndarray) -> None:
        """Merge the regions (or pieces) that `group` puts together."""
        count = group.max() + 1
        self.size = np.bincount(group, self.size, minlength=count).astype(np.int64)
        first = np.full(count, np.iinfo(np.int64).max)
        np.minimum.at(first, group, self.first)
        classes = np.empty(count, self.classes.dtype)
        classes[group] = self.classes
        pairs = np.sort(group[self.pairs], axis=1)
        self.first, self.classes = first, classes
        self.pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)

    def merge_small(self, threshold: float) -> bool:
        """One round: small regions take the class of their merge target; then same-class neighbours merge."""
        target = merge_targets(self.size, self.first, self.pairs, threshold)
        if np.array_equal(target, np.arange(len(target))):
            return False
        self.classes = self.classes[target]
        same = self.classes[self.pairs[:, 0]] == self.classes[self.pairs[:, 1]]
        group = components(len(self.size), self.pairs[same])
        self.member = group[self.member]
        self._contract(group)
        return True


def merge_targets(size: np.ndarray, first: np.ndarray, pairs: np.ndarray, threshold: float) -> np.ndarray:
    """For each region, the region whose class it takes: itself, or the end of its chain of merges."""
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    small = size[src] < threshold
    src, dst = src[small], dst[small]
    order = np.lexsort((first[dst], -size[dst], src))  # per source: largest neighbour, then earliest
    src, dst = src[order], dst[order]
    head = np.ones(len(src), bool)
    head[1:] = src[1:] != src[:-1]
    src, dst = src[head], dst[head]
    larger = (size[dst] > size[src]) | ((size[dst] == size[src]) & (first[dst] < first[src]))
    target = np.arange(len(size))
    target[src[larger]] = dst[larger]
    while True:  # follow chains; they only climb in (size, first) order, so they end
        hop = target[target]
        if np.array_equal(hop, target):
            return target
        target = hop


def sieve_strips(strips: Callable[[], Iterable[Strip]], threshold: float,
                 on_decided: Callable[[int], None] | None = None) -> Iterator[Strip]:
    """Sieve the strips that `strips()` yields (called twice: the same strips both times)."""
    table = RegionTable()
    for strip in strips():
        table.add(label_regions(strip.classes, strip.valid, strip.row))
    lut, merged = table.decide(threshold)
    if on_decided is not None:
        on_decided(merged)
    original = table.piece_classes()
    for strip, offset in zip(strips(), table.offsets):
        yield rewrite(strip, offset, lut, original)


def rewrite(strip: Strip, offset: int, lut: np.ndarray, original: np.ndarray) -> Strip:
    """The strip with the sieved classes of its pieces (relabelled exactly as in pass 1)."""
    lab = label_regions(strip.classes, strip.valid, strip.row)
    new = lut[offset: offset + lab.count]
    if np.array_equal(new, original[offset: offset + lab.count]):
        return strip
    classes = strip.classes.copy()
    inside = lab.labels > 0
    classes[inside] = new[lab.labels[inside] - 1]
    return strip.with_classes(classes)
