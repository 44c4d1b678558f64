"""Image sets: the builtin set of real photos, user folders, and their manifest (bench.data.images)."""
