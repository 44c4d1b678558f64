"""GntIpt (Yu et al. 2018, DeepFill v1): the coarse-to-fine generator, critics and losses (network),
contextual attention (attention), the released weights' readers (weights), and GntIpt as a trainable model
(recipe)."""
