"""Biharmonic inpainting: scikit-image's linear system, solved by a sparse multifrontal Cholesky.

`inpaint_biharmonic_fast(image, hole)` gives the fill of
`skimage.restoration.inpaint_biharmonic(image, hole, channel_axis=-1, split_into_regions=False)`
(scikit-image 0.26) to round-off, several times faster. The system is skimage's, built the same way:

- one unknown per hole pixel and one equation per hole pixel: the biharmonic stencil
  `laplace(laplace(delta))` (scipy.ndimage.laplace, mode "reflect") centred on the pixel; the 13-point
  stencil inside the image, the stencil of the window truncated to the image within 2 px of its border;
- stencil taps on known pixels move to the right-hand side; all channels share the matrix;
- the result is clipped per channel to the range of the known pixels.

Near the border the truncated stencil of pixel p is row p of L^2, L being the Laplacian with reflecting
(Neumann) boundary, so the matrix is (L^2) restricted to the hole: symmetric positive definite whenever
one pixel is known. It is solved once for all channels by a Cholesky factorisation:

1. order the unknowns by geometric nested dissection (split the pixel set by two adjacent rows or
   columns, the stencil's reach, where few hole pixels lie; recurse on both sides, the separator last);
2. multifrontal factorisation over that dissection tree, dense fronts done by LAPACK/BLAS
   (dpotrf, dtrsm, dsyrk through scipy.linalg.cython_lapack / cython_blas, called from numba);
3. forward and back substitution with all channels as columns.

The symmetry of the assembled matrix is checked entry by entry, the factorisation's pivots and the final
residual too; if any check fails (none did in tests/test_biharmonic.py) the system is solved by
scipy's SuperLU instead, so the answer is the same either way.
"""

from __future__ import annotations

import contextlib
import ctypes
from functools import lru_cache

import numpy as np
from numba import njit
from numba.extending import get_cython_function_address
from scipy import ndimage, sparse
from scipy.sparse.linalg import splu

try:  # scikit-learn's dependency; without it BLAS keeps its own thread count
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover
    ThreadpoolController = None

__all__ = ["inpaint_biharmonic_fast"]

RADIUS = 2  # the biharmonic stencil's reach (px)
LEAF = 16  # nested dissection stops at this many pixels
MIN_SIDE = 0.05  # a dissection cut leaves at least this fraction of the pixels on each side
RESIDUAL_TOL = 1e-9  # relative residual above which the SuperLU fallback runs

_vp = ctypes.c_void_p


def _cfunc(module: str, name: str, nargs: int):
    return ctypes.CFUNCTYPE(None, *([_vp] * nargs))(get_cython_function_address(module, name))


_dpotrf = _cfunc("scipy.linalg.cython_lapack", "dpotrf", 5)
_dtrsm = _cfunc("scipy.linalg.cython_blas", "dtrsm", 11)
_dsyrk = _cfunc("scipy.linalg.cython_blas", "dsyrk", 10)
_dgemm = _cfunc("scipy.linalg.cython_blas", "dgemm", 13)
_BLAS_MIN = 2048  # panels of at least this many entries are solved with BLAS, smaller ones by loops


# ---------------------------------------------------------------------------------------------- stencils


def _axis_class(x: np.ndarray, n: int) -> np.ndarray:
    """0..8 = 3 * (taps cut off before) + (taps cut off after) along one axis of length n."""
    before = np.maximum(RADIUS - x, 0)
    after = np.maximum(x + RADIUS - (n - 1), 0)
    return before * 3 + after


@lru_cache(maxsize=1)
def _stencil_table() -> np.ndarray:
    """(81, 5, 5) float64: the biharmonic stencil of each (row class, column class), as skimage builds it
    (`laplace(laplace(delta))` on the window cut to the image), indexed by offset + RADIUS."""
    table = np.zeros((81, 2 * RADIUS + 1, 2 * RADIUS + 1))
    for cls in range(81):
        (rb, ra), (cb, ca) = divmod(cls // 9, 3), divmod(cls % 9, 3)
        shape = (2 * RADIUS + 1 - rb - ra, 2 * RADIUS + 1 - cb - ca)
        centre = (RADIUS - rb, RADIUS - cb)
        delta = np.zeros(shape)
        delta[centre] = 1.0
        coef = ndimage.laplace(ndimage.laplace(delta))
        table[cls, rb : rb + shape[0], cb : cb + shape[1]] = coef
    return table


# ------------------------------------------------------------------------------------ nested dissection


@njit(cache=True, nogil=True)
def _best_cut(x, a, b, counts, min_side):
    """Cheapest cut of the pixels idx[a:b] with coordinates x: (cost, m) splitting into x < m, x in
    {m, m+1} (the separator) and x > m + 1; cost = separator size / (left * right / n); (inf, -1) if none."""
    n = b - a
    lo = x[0]
    hi = x[0]
    for k in range(n):
        v = x[k]
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    ext = hi - lo + 1
    if ext < 4:
        return np.inf, -1
    for k in range(ext):
        counts[k] = 0
    for k in range(n):
        counts[x[k] - lo] += 1
    need = max(1.0, min_side * n)
    best = np.inf
    best_m = -1
    left = counts[0]  # pixels with offset < m
    for m in range(1, ext - 2):
        sep = counts[m] + counts[m + 1]
        right = n - left - sep
        if left >= need and right >= need:
            cost = sep * n / (left * float(right))
            if cost < best:
                best = cost
                best_m = m
        left += counts[m]
    return best, best_m + lo


@njit(cache=True, nogil=True)
def _dissect(rows, cols, leaf, min_side, extent):
    """Nested dissection of the pixels (rows, cols).

    Returns (order, own_start, own_end, parent): order[k] = which pixel gets number k; the tree's nodes in
    postorder, node i eliminating the numbers own_start[i]:own_end[i], parent -1 for a root.
    """
    n = rows.shape[0]
    idx = np.arange(n)
    tmp = np.empty(n, np.int64)
    xr = np.empty(n, np.int64)
    xc = np.empty(n, np.int64)
    counts = np.zeros(extent + 4, np.int64)
    stack_a = np.empty(n + 1, np.int64)
    stack_b = np.empty(n + 1, np.int64)
    stack_p = np.empty(n + 1, np.int64)
    node_s = np.empty(n + 1, np.int64)
    node_e = np.empty(n + 1, np.int64)
    node_p = np.empty(n + 1, np.int64)
    nn = 0
    top = 0
    if n > 0:
        stack_a[0] = 0
        stack_b[0] = n
        stack_p[0] = -1
        top = 1
    while top > 0:
        top -= 1
        a = stack_a[top]
        b = stack_b[top]
        par = stack_p[top]
        size = b - a
        m = -1
        use_rows = True
        if size > leaf:
            for k in range(size):
                xr[k] = rows[idx[a + k]]
                xc[k] = cols[idx[a + k]]
            cr, mr = _best_cut(xr[:size], 0, size, counts, min_side)
            cc, mc = _best_cut(xc[:size], 0, size, counts, min_side)
            if mr >= 0 and cr <= cc:
                m = mr
            elif mc >= 0:
                m = mc
                use_rows = False
        if m < 0:  # a leaf
            node_s[nn] = a
            node_e[nn] = b
            node_p[nn] = par
            nn += 1
            continue
        n_lo, n_hi = _partition(idx, tmp, xr if use_rows else xc, a, size, m)
        child_par = par
        if a + n_lo + n_hi < b:  # a non-empty separator: a node of its own
            node_s[nn] = a + n_lo + n_hi
            node_e[nn] = b
            node_p[nn] = par
            child_par = nn
            nn += 1
        stack_a[top] = a
        stack_b[top] = a + n_lo
        stack_p[top] = child_par
        top += 1
        stack_a[top] = a + n_lo
        stack_b[top] = a + n_lo + n_hi
        stack_p[top] = child_par
        top += 1
    own_s, own_e, parent = _postorder(node_s, node_e, node_p, nn)
    return idx, own_s, own_e, parent


@njit(cache=True, nogil=True)
def _partition(idx, tmp, x, a, size, m):
    """Reorder idx[a:a+size] stably into (x < m), (x > m+1), the separator (the rest); (n_lo, n_hi)."""
    n_lo = 0
    n_hi = 0
    for k in range(size):
        if x[k] < m:
            n_lo += 1
        elif x[k] > m + 1:
            n_hi += 1
    i_lo = a
    i_hi = a + n_lo
    i_sep = a + n_lo + n_hi
    for k in range(size):
        v = idx[a + k]
        if x[k] < m:
            tmp[i_lo] = v
            i_lo += 1
        elif x[k] > m + 1:
            tmp[i_hi] = v
            i_hi += 1
        else:
            tmp[i_sep] = v
            i_sep += 1
    for k in range(a, a + size):
        idx[k] = tmp[k]
    return n_lo, n_hi


@njit(cache=True, nogil=True)
def _postorder(node_s, node_e, node_p, nn):
    """The nodes in postorder (a node's range ends before its parent's starts): own_s, own_e, parent."""
    post = np.argsort(node_e[:nn])
    rank = np.empty(nn, np.int64)
    for i in range(nn):
        rank[post[i]] = i
    own_s = np.empty(nn, np.int64)
    own_e = np.empty(nn, np.int64)
    parent = np.empty(nn, np.int64)
    for i in range(nn):
        j = post[i]
        own_s[i] = node_s[j]
        own_e[i] = node_e[j]
        parent[i] = rank[node_p[j]] if node_p[j] >= 0 else -1
    return own_s, own_e, parent


# ------------------------------------------------------------------------------------------- the system


@njit(cache=True, nogil=True)
def _assemble(order, number, rows, cols, height, width, cls, table, img):
    """The upper triangle (in the new numbering) of the matrix as CSR, the right-hand side, and whether
    the matrix is symmetric. img: (H*W, C) float64."""
    n = order.shape[0]
    nch = img.shape[1]
    r2 = table.shape[1]
    rad = r2 // 2
    indptr = np.zeros(n + 1, np.int64)
    indices = np.empty(n * r2 * r2, np.int64)
    data = np.empty(n * r2 * r2)
    rhs = np.zeros((n, nch))
    symmetric = True
    nz = 0
    for k in range(n):
        p = order[k]
        r = rows[p]
        c = cols[p]
        t = table[cls[p]]
        for dy in range(r2):
            for dx in range(r2):
                v = t[dy, dx]
                if v == 0.0:
                    continue
                q = (r + dy - rad) * width + (c + dx - rad)
                j = number[q]
                if j < 0:
                    for ch in range(nch):
                        rhs[k, ch] -= v * img[q, ch]
                else:
                    if table[cls[order[j]], r2 - 1 - dy, r2 - 1 - dx] != v:
                        symmetric = False
                    if j >= k:
                        indices[nz] = j
                        data[nz] = v
                        nz += 1
        indptr[k + 1] = nz
    return indptr, indices[:nz], data[:nz], rhs, symmetric


@njit(cache=True, nogil=True)
def _residual(order, number, rows, cols, width, cls, table, filled, rhs):
    """max |A x - b| / max(|b|, 1) with x read from the filled image (H*W, C)."""
    n = order.shape[0]
    nch = filled.shape[1]
    r2 = table.shape[1]
    rad = r2 // 2
    worst = 0.0
    scale = 1.0
    for k in range(n):
        p = order[k]
        t = table[cls[p]]
        for ch in range(nch):
            acc = 0.0
            for dy in range(r2):
                for dx in range(r2):
                    v = t[dy, dx]
                    if v != 0.0:
                        q = (rows[p] + dy - rad) * width + (cols[p] + dx - rad)
                        if number[q] >= 0:
                            acc += v * filled[q, ch]
            d = abs(acc - rhs[k, ch])
            if d > worst:
                worst = d
            if abs(rhs[k, ch]) > scale:
                scale = abs(rhs[k, ch])
    return worst / scale


# --------------------------------------------------------------------------------- multifrontal Cholesky


@njit(cache=True, nogil=True)
def _symbolic(indptr, indices, own_s, own_e, parent):
    """Each node's update indices (the ancestors' unknowns its front couples to), sorted, as CSR."""
    nn = own_s.shape[0]
    n = indptr.shape[0] - 1
    # children lists
    nchild = np.zeros(nn + 1, np.int64)
    for i in range(nn):
        if parent[i] >= 0:
            nchild[parent[i] + 1] += 1
    cptr = np.cumsum(nchild)
    fill = cptr[:-1].copy()
    child = np.empty(max(cptr[-1], 1), np.int64)
    for i in range(nn):
        if parent[i] >= 0:
            child[fill[parent[i]]] = i
            fill[parent[i]] += 1
    mark = np.full(n, -1, np.int64)
    sptr = np.zeros(nn + 1, np.int64)
    cap = max(4 * n, 16)
    sidx = np.empty(cap, np.int64)
    for i in range(nn):
        s1 = own_e[i]
        start = sptr[i]
        cnt = 0
        for row in range(own_s[i], s1):
            for z in range(indptr[row], indptr[row + 1]):
                j = indices[z]
                if j >= s1 and mark[j] != i:
                    mark[j] = i
                    if start + cnt >= cap:
                        cap *= 2
                        grown = np.empty(cap, np.int64)
                        grown[: start + cnt] = sidx[: start + cnt]
                        sidx = grown
                    sidx[start + cnt] = j
                    cnt += 1
        for z in range(cptr[i], cptr[i + 1]):
            ch = child[z]
            for y in range(sptr[ch], sptr[ch + 1]):
                j = sidx[y]
                if j >= s1 and mark[j] != i:
                    mark[j] = i
                    if start + cnt >= cap:
                        cap *= 2
                        grown = np.empty(cap, np.int64)
                        grown[: start + cnt] = sidx[: start + cnt]
                        sidx = grown
                    sidx[start + cnt] = j
                    cnt += 1
        sidx[start : start + cnt] = np.sort(sidx[start : start + cnt])
        sptr[i + 1] = start + cnt
    return sptr, sidx[: sptr[nn]].copy(), cptr, child


@njit(cache=True, nogil=True)
def _workspace(own_s, own_e, sptr, cptr, child):
    """Sizes of the factorisation's two buffers: the largest front (m * m) and the peak of the update
    stack. In postorder a node's children are factored just before it, so their update matrices are the
    top of a stack when it needs them (last in, first out)."""
    nn = own_s.shape[0]
    front = 1
    top = 0
    peak = 1
    for i in range(nn):
        m = own_e[i] - own_s[i] + sptr[i + 1] - sptr[i]
        front = max(front, m * m)
        for z in range(cptr[i], cptr[i + 1]):
            rc = sptr[child[z] + 1] - sptr[child[z]]
            top -= rc * rc
        r = sptr[i + 1] - sptr[i]
        top += r * r
        peak = max(peak, top)
    return front, peak


@njit(cache=True, nogil=True)
def _front(
    i, s0, s, r, m, pos, indptr, indices, data, sptr, sidx, cptr, child, front, stack, top, loc, run_end
):
    """Assemble node i's (m, m) frontal matrix (upper triangle) in `front`: its own rows of the system
    plus its children's update matrices, which lie on top of `stack` (each (rc, rc), C order) and are
    popped. Returns the new stack top."""
    for k in range(s):
        pos[s0 + k] = k
    for k in range(r):
        pos[sidx[sptr[i] + k]] = s + k
    for a in range(m):
        front[a, a:] = 0.0
    for row in range(s0, s0 + s):
        pr = row - s0
        for z in range(indptr[row], indptr[row + 1]):
            front[pr, pos[indices[z]]] += data[z]
    start = top
    for z in range(cptr[i], cptr[i + 1]):
        rc = sptr[child[z] + 1] - sptr[child[z]]
        start -= rc * rc
    flat = front.reshape(-1)
    at = start
    for z in range(cptr[i], cptr[i + 1]):
        c = child[z]
        rc = sptr[c + 1] - sptr[c]
        base = sptr[c]
        # The child's unknowns' columns in this front, and where each run of consecutive columns ends:
        # the update is added run by run, as contiguous loops.
        for a in range(rc):
            loc[a] = pos[sidx[base + a]]
        run_end[rc - 1] = rc
        for a in range(rc - 2, -1, -1):
            run_end[a] = run_end[a + 1] if loc[a + 1] == loc[a] + 1 else a + 1
        for a in range(rc):
            off = loc[a] * m
            row = at + a * rc
            b = a
            while b < rc:
                e = run_end[b]
                dst = off + loc[b] - b
                for t in range(b, e):
                    flat[dst + t] += stack[row + t]
                b = e
        at += rc * rc
    return start


# Not cached: numba cannot cache code that calls ctypes function pointers (compiled once per process).
@njit(nogil=True)
def _dense_step(flat, s, m, r, ch, iv, dv):
    """The dense work on one (m, m) front (C order, upper triangle), in place: L11 = chol of its own
    (s, s) block (dpotrf), L21 (dtrsm), the Schur complement of the trailing (r, r) block (dsyrk).
    False: not positive definite."""
    iv[0] = s
    iv[1] = m
    iv[2] = r
    iv[3] = 0
    _dpotrf(ch[0:].ctypes, iv[0:].ctypes, flat.ctypes, iv[1:].ctypes, iv[3:].ctypes)
    if iv[3] != 0:
        return False
    if r > 0:
        panel_b = flat[s:]
        _dtrsm(
            ch[1:].ctypes,
            ch[0:].ctypes,
            ch[2:].ctypes,
            ch[3:].ctypes,
            iv[2:].ctypes,
            iv[0:].ctypes,
            dv[0:].ctypes,
            flat.ctypes,
            iv[1:].ctypes,
            panel_b.ctypes,
            iv[1:].ctypes,
        )
        schur = flat[s * m + s :]
        _dsyrk(
            ch[0:].ctypes,
            ch[3:].ctypes,
            iv[2:].ctypes,
            iv[0:].ctypes,
            dv[1:].ctypes,
            panel_b.ctypes,
            iv[1:].ctypes,
            dv[0:].ctypes,
            schur.ctypes,
            iv[1:].ctypes,
        )
    return True


@njit(cache=True, nogil=True)
def _push_update(stack, top, front, s, r):
    """Push the front's trailing (r, r) update (upper triangle) on the stack; returns the new top."""
    for a in range(r):
        stack[top + a * r + a : top + (a + 1) * r] = front[s + a, s + a :]
    return top + r * r


# Not cached: numba cannot cache code that calls ctypes function pointers (compiled once per process).
@njit(nogil=True)
def _factor(indptr, indices, data, own_s, own_e, sptr, sidx, cptr, child):
    """Multifrontal Cholesky. Returns (panels, panel_ptr, ok): node i's panel is the C-order (s, s + r)
    block [L11^T | L21^T] (upper triangle of the first s columns valid), s own and r update unknowns.

    One front buffer and one stack of update matrices serve every node (no allocation per front)."""
    nn = own_s.shape[0]
    n = indptr.shape[0] - 1
    total = 0
    for i in range(nn):
        s = own_e[i] - own_s[i]
        total += s * (s + sptr[i + 1] - sptr[i])
    panels = np.empty(max(total, 1))
    pptr = np.zeros(nn + 1, np.int64)
    pos = np.empty(n, np.int64)
    front_size, stack_size = _workspace(own_s, own_e, sptr, cptr, child)
    work = np.empty(front_size)
    loc = np.empty(n, np.int64)
    run_end = np.empty(n, np.int64)
    stack = np.empty(stack_size)
    top = 0
    ch = np.empty(4, np.uint8)
    ch[0] = ord("L")
    ch[1] = ord("R")
    ch[2] = ord("T")
    ch[3] = ord("N")
    iv = np.zeros(4, np.int32)
    dv = np.empty(2)
    dv[0] = 1.0
    dv[1] = -1.0
    for i in range(nn):
        s0 = own_s[i]
        s = own_e[i] - s0
        r = sptr[i + 1] - sptr[i]
        m = s + r
        flat = work[: m * m]
        front = flat.reshape((m, m))
        top = _front(
            i,
            s0,
            s,
            r,
            m,
            pos,
            indptr,
            indices,
            data,
            sptr,
            sidx,
            cptr,
            child,
            front,
            stack,
            top,
            loc,
            run_end,
        )
        if not _dense_step(flat, s, m, r, ch, iv, dv):
            return panels, pptr, False
        if r > 0:
            top = _push_update(stack, top, front, s, r)
        pptr[i + 1] = pptr[i] + s * m
        panels[pptr[i] : pptr[i + 1]] = flat[: s * m]
    return panels, pptr, True


# Not cached: numba cannot cache code that calls ctypes function pointers (compiled once per process).
@njit(nogil=True)
def _solve(panels, pptr, own_s, own_e, sptr, sidx, rhs):
    """Solve L L^T x = rhs in place (rhs: (n, C) C-order, the new numbering). Nodes with big panels use
    dtrsm/dgemm on the Fortran view of the panel ([L11; L21], m x s, lda m) and of rhs (C x n, ld C)."""
    nn = own_s.shape[0]
    nch = rhs.shape[1]
    flat = rhs.reshape(-1)
    rmax = 1
    for i in range(nn):
        rmax = max(rmax, sptr[i + 1] - sptr[i])
    buf = np.empty(rmax * nch)
    ch = np.empty(4, np.uint8)
    ch[0] = ord("L")
    ch[1] = ord("R")
    ch[2] = ord("T")
    ch[3] = ord("N")
    iv = np.zeros(5, np.int32)  # s, m, r, nch
    dv = np.empty(3)
    dv[0] = 1.0
    dv[1] = -1.0
    dv[2] = 0.0
    _forward(panels, pptr, own_s, own_e, sptr, sidx, rhs, nn, nch, flat, buf, ch, iv, dv)
    _backward(panels, pptr, own_s, own_e, sptr, sidx, rhs, nn, nch, flat, buf, ch, iv, dv)


@njit(nogil=True)
def _forward(panels, pptr, own_s, own_e, sptr, sidx, rhs, nn, nch, flat, buf, ch, iv, dv):
    """L z = b, node by node (BLAS for big panels); rhs holds z afterwards."""
    for i in range(nn):  # forward: L z = b
        s0 = own_s[i]
        s = own_e[i] - s0
        r = sptr[i + 1] - sptr[i]
        m = s + r
        p = panels[pptr[i] : pptr[i + 1]].reshape(s, m)
        if s * m >= _BLAS_MIN:
            iv[0] = s
            iv[1] = m
            iv[2] = r
            iv[3] = nch
            pf = panels[pptr[i] : pptr[i + 1]]
            own = flat[s0 * nch :]
            _dtrsm(
                ch[1:].ctypes,
                ch[0:].ctypes,
                ch[2:].ctypes,
                ch[3:].ctypes,
                iv[3:].ctypes,
                iv[0:].ctypes,
                dv[0:].ctypes,
                pf.ctypes,
                iv[1:].ctypes,
                own.ctypes,
                iv[3:].ctypes,
            )
            if r > 0:
                pb = pf[s:]
                _dgemm(
                    ch[3:].ctypes,
                    ch[2:].ctypes,
                    iv[3:].ctypes,
                    iv[2:].ctypes,
                    iv[0:].ctypes,
                    dv[0:].ctypes,
                    own.ctypes,
                    iv[3:].ctypes,
                    pb.ctypes,
                    iv[1:].ctypes,
                    dv[2:].ctypes,
                    buf.ctypes,
                    iv[3:].ctypes,
                )
                for k in range(r):
                    g = sidx[sptr[i] + k]
                    for c in range(nch):
                        rhs[g, c] -= buf[k * nch + c]
            continue
        for j in range(s):
            d = p[j, j]
            for c in range(nch):
                rhs[s0 + j, c] /= d
            for k in range(j + 1, s):
                v = p[j, k]
                for c in range(nch):
                    rhs[s0 + k, c] -= v * rhs[s0 + j, c]
            for k in range(r):
                v = p[j, s + k]
                g = sidx[sptr[i] + k]
                for c in range(nch):
                    rhs[g, c] -= v * rhs[s0 + j, c]


@njit(nogil=True)
def _backward(panels, pptr, own_s, own_e, sptr, sidx, rhs, nn, nch, flat, buf, ch, iv, dv):
    """L^T x = z, node by node in reverse (BLAS for big panels); rhs holds x afterwards."""
    for i in range(nn - 1, -1, -1):  # backward: L^T x = z
        s0 = own_s[i]
        s = own_e[i] - s0
        r = sptr[i + 1] - sptr[i]
        m = s + r
        p = panels[pptr[i] : pptr[i + 1]].reshape(s, m)
        if s * m >= _BLAS_MIN:
            iv[0] = s
            iv[1] = m
            iv[2] = r
            iv[3] = nch
            pf = panels[pptr[i] : pptr[i + 1]]
            own = flat[s0 * nch :]
            if r > 0:
                for k in range(r):
                    g = sidx[sptr[i] + k]
                    for c in range(nch):
                        buf[k * nch + c] = rhs[g, c]
                pb = pf[s:]
                _dgemm(
                    ch[3:].ctypes,
                    ch[3:].ctypes,
                    iv[3:].ctypes,
                    iv[0:].ctypes,
                    iv[2:].ctypes,
                    dv[1:].ctypes,
                    buf.ctypes,
                    iv[3:].ctypes,
                    pb.ctypes,
                    iv[1:].ctypes,
                    dv[0:].ctypes,
                    own.ctypes,
                    iv[3:].ctypes,
                )
            _dtrsm(
                ch[1:].ctypes,
                ch[0:].ctypes,
                ch[3:].ctypes,
                ch[3:].ctypes,
                iv[3:].ctypes,
                iv[0:].ctypes,
                dv[0:].ctypes,
                pf.ctypes,
                iv[1:].ctypes,
                own.ctypes,
                iv[3:].ctypes,
            )
            continue
        for j in range(s - 1, -1, -1):
            for k in range(r):
                v = p[j, s + k]
                g = sidx[sptr[i] + k]
                for c in range(nch):
                    rhs[s0 + j, c] -= v * rhs[g, c]
            for k in range(j + 1, s):
                v = p[j, k]
                for c in range(nch):
                    rhs[s0 + j, c] -= v * rhs[s0 + k, c]
            d = p[j, j]
            for c in range(nch):
                rhs[s0 + j, c] /= d


# ----------------------------------------------------------------------------------------------- driver


@lru_cache(maxsize=1)
def _controller():
    """threadpoolctl's view of the loaded libraries, found once: each lookup dlopens every loaded library
    (33 ms per call inside `bench evaluate`, where torch's libraries are loaded too)."""
    return ThreadpoolController()


def _one_blas_thread():
    if ThreadpoolController is None:
        return contextlib.nullcontext()
    return _controller().limit(limits=1, user_api="blas")


def _superlu(indptr, indices, data, rhs):
    """The fallback: SuperLU on the full matrix rebuilt from its upper triangle."""
    n = rhs.shape[0]
    upper = sparse.csr_matrix((data, indices, indptr), shape=(n, n))
    full = (upper + sparse.triu(upper, k=1).T).tocsc()
    x = splu(full, permc_spec="MMD_AT_PLUS_A").solve(rhs)
    return x.reshape(rhs.shape)


def inpaint_biharmonic_fast(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Biharmonic fill of `hole` (H,W) bool, True = to inpaint, in `image` (H,W,C) or (H,W).

    Same result as skimage.restoration.inpaint_biharmonic(image, hole, channel_axis=-1) (to ~1e-9 on
    [0,1] images); computed in float64, returned as float64 (float32 input: float32). No hole: a copy of
    the image. All hole: there is nothing to fill from; a copy of the image is returned.
    """
    image = np.asarray(image)
    hole = np.asarray(hole, dtype=bool)
    gray = image.ndim == 2
    img = image[..., None] if gray else image
    if img.ndim != 3 or img.shape[:2] != hole.shape:
        raise ValueError(f"image {image.shape} and hole {hole.shape} do not match")
    out_dtype = image.dtype if image.dtype in (np.float32, np.float64) else np.float64
    height, width, nch = img.shape
    out = np.array(img, dtype=np.float64, order="C")
    if not hole.any() or hole.all():
        return (out[..., 0] if gray else out).astype(out_dtype, copy=False)
    flat_img = out.reshape(-1, nch)
    pix = np.flatnonzero(hole)
    rows, cols = np.divmod(pix, width)
    cls = np.zeros(height * width, np.int64)
    cls[pix] = _axis_class(rows, height) * 9 + _axis_class(cols, width)
    table = _stencil_table()
    rows_all = np.zeros(height * width, np.int64)
    cols_all = np.zeros(height * width, np.int64)
    rows_all[pix] = rows
    cols_all[pix] = cols

    sub, own_s, own_e, parent = _dissect(rows, cols, LEAF, MIN_SIDE, max(height, width))
    order = pix[sub]  # new number -> flat pixel
    number = np.full(height * width, -1, np.int64)
    number[order] = np.arange(order.size)
    indptr, indices, data, rhs, symmetric = _assemble(
        order, number, rows_all, cols_all, height, width, cls, table, flat_img
    )
    x = None
    if symmetric:
        sptr, sidx, cptr, child = _symbolic(indptr, indices, own_s, own_e, parent)
        # One BLAS thread: the fronts are small to mid-sized, and on a shared 2-core box a second thread
        # that waits for a busy core made the factorisation 3-5x slower (and erratic) in our measurements.
        with _one_blas_thread():
            panels, pptr, ok = _factor(indptr, indices, data, own_s, own_e, sptr, sidx, cptr, child)
            if ok:
                x = rhs.copy()
                _solve(panels, pptr, own_s, own_e, sptr, sidx, x)
        if ok:
            flat_img[order] = x
            res = _residual(order, number, rows_all, cols_all, width, cls, table, flat_img, rhs)
            if not np.isfinite(res) or res > RESIDUAL_TOL:
                x = None
    if x is None:  # not symmetric positive definite after all, or inaccurate: solve it by LU
        if symmetric:
            flat_img[order] = _superlu(indptr, indices, data, rhs)
        else:
            a = _full_matrix(order, number, rows_all, cols_all, width, cls, table)
            flat_img[order] = splu(a, permc_spec="MMD_AT_PLUS_A").solve(rhs).reshape(rhs.shape)
    known = img[~hole].astype(np.float64)
    np.clip(out, known.min(axis=0), known.max(axis=0), out=out)
    return (out[..., 0] if gray else out).astype(out_dtype, copy=False)


def _full_matrix(order, number, rows_all, cols_all, width, cls, table):
    """The whole (possibly unsymmetric) matrix, for the LU fallback."""
    rad = table.shape[1] // 2
    p = order
    r_list, c_list, v_list = [], [], []
    for dy in range(table.shape[1]):
        for dx in range(table.shape[2]):
            v = table[cls[p], dy, dx]
            nz = np.flatnonzero(v)
            if nz.size == 0:
                continue
            q = (rows_all[p[nz]] + dy - rad) * width + cols_all[p[nz]] + dx - rad
            j = number[q]
            keep = j >= 0
            r_list.append(nz[keep])
            c_list.append(j[keep])
            v_list.append(v[nz][keep])
    n = order.size
    a = sparse.coo_matrix((np.concatenate(v_list), (np.concatenate(r_list), np.concatenate(c_list))), (n, n))
    return a.tocsc()
