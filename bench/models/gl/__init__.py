"""GL (Iizuka et al. 2017): the completion network, its discriminators, losses and the released Torch7
weights' reader (network), and GL as a trainable model (recipe)."""
