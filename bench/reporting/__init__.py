"""From per-pair records to what a reader sees: statistics and Table 1 (tables), LaTeX (latex), figures
(plots), the HTML page (report), the --json document (summary_json) and rebuilding all of them from
stored records (rebuild)."""
