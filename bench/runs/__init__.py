"""An evaluation folder on disk, as written by the runner and read by the reports: which mask meets which
image (pairing), the per-pair records and run.json (records), and the parts that shards and torchrun
ranks write (shards)."""
