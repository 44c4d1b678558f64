"""Irregular hole masks binned by hole ratio, groups N and B (Liu et al., ECCV 2018, Table 1).

- masks.conventions: polarity, bins, groups, margin (the project-wide definitions).
- masks.generate: generate_mask(rng, size, bin, group, kind) and the Kind enum.
- masks.sampler: MaskSampler, a fresh mask per training sample.
- masks.manifest: generate_set, import_set, read_manifest, stats_table (mask sets on disk).
"""
