"""Methods other than the trained U-Nets, registered with bench.methods on first use of a registry.

- baselines.classical: `mean` (the floor), `telea`, `ns` (OpenCV's fast marching), `biharmonic`.
- baselines.fmm: `telea` and `ns` as a numba port of OpenCV's code, equal to `cv2.inpaint` bit for bit.
- baselines.biharmonic: scikit-image's biharmonic system solved by a sparse Cholesky factorisation.
- baselines.patchmatch: `patchmatch`, PatchMatch + Wexler EM completion written here in numba.
- baselines.gl_gntipt: `gl:weights=FILE`, `gntipt:weights=FILE`, GL and GntIpt from released weights.
- baselines.outputs: `outputs:dir=P`, the images another program wrote for the exported pairs.
"""
