"""`bench train`: its configuration and profiles (config) and the resumable training loop (loop). What a
model trains with is its registration in bench.models."""
