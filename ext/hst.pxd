# Half-Space Trees (Tan, Ting & Liu 2011), as River's anomaly.HalfSpaceTrees computes
# them, over rows of doubles (one column per feature, NaN = feature missing).
#
# Every tree is a complete binary tree of height h stored in heap order: node i has
# children 2i+1 (x[feature] < threshold) and 2i+2; the 2**h leaves are the last nodes.
# A model's n_trees trees lie one after the other in one HSTNode array, and NODE_DTYPE
# in hst.pyx is derived from the struct, so exported arrays and the struct cannot drift.
#
# HSTCore (hst.pyx) is declared in the .pyx, as FlowMeter is: the modules are built as
# wirescore._core.<name> from ext/<name>.pyx, so Cython does not pair a class declared
# here with its definition there.

from libc.stdint cimport int32_t, uint32_t, int64_t

cdef enum:
    TREE_CHUNK = 16          # trees walked side by side, level by level (see hst.pyx)
    MAX_HEIGHT = 24          # 2**25 - 1 nodes a tree at most (768 MiB per tree)
    ROW_STACK = 64           # a mapping sample of up to this many features: row on the stack
    DO_SCORE = 1             # HSTCore._one(): score, learn, or both
    DO_LEARN = 2

cdef struct HSTNode:
    double threshold         # split point; NaN on leaves
    int32_t feature          # column index of the split feature; -1 on leaves
    uint32_t l_mass          # samples through this node in the latest (filling) window
    uint32_t r_mass          # samples through this node in the reference (last full) window
    uint32_t pad
