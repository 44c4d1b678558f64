"""Methods other than PConv, registered with bench.inpainters on first use of the registry.

- baselines.classical: `mean` (the floor), `telea`, `ns` (OpenCV), `biharmonic` (scikit-image).
- baselines.patchmatch: `patchmatch`, PatchMatch + Wexler EM completion written here in numba.
"""
