"""`bench reproduce`: the whole protocol end to end, one resumable stage after another."""
