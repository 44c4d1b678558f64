"""The paper's model: the partial convolution (pconv), the inpainting U-Net and its plain-conv twin
(network), the paper's loss (loss), and PConv and Conv as trainable models with their two-phase recipe
(recipe)."""
