"""From per-pair records to what a reader sees: intervals and tests (statistics), Table 1 (tables), the
paper's cells beside a run (reference), LaTeX (latex), figures (plots), the HTML page (report), the --json
document (summary_json) and rebuilding all of them from stored records (rebuild)."""
