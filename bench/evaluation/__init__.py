"""The paper's protocol run on any set of methods: what a run is, decided before anything is written
(protocol), the runner (runner), the protocol's inputs for other programs (export_inputs) and every scored
output kept as a PNG (saved_outputs). What it writes is read through bench.runs."""
