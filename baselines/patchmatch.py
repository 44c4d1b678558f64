"""PatchMatch image completion (placeholder while the implementation lands)."""
