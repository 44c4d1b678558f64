"""Image sets: the builtin set of real photos (photos), reading images bounded and bytes-safe (decode), and
`bench data prepare`: crops, the split by source photo, the manifest, and listing a prepared folder
(prepare)."""
