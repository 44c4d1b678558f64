"""The foundation every other layer stands on (masks/ and baselines/ included): errors, file writes that stay
inside their folder, owned folders and their locks, content digests, device choice, torchrun processes,
worker processes, progress lines and the offline resolution of pretrained weights. Imports nothing else
of the project."""
