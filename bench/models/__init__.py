"""Trainable models: the registry (registry), the partial convolution and the paper's U-Net (pconv,
unet, loss, unet_recipe), GL and GntIpt (gl, gntipt, contextual_attention, gntipt_weights, adversarial)
and the training checkpoint format (checkpoint). A plugin registers a model with
`bench.models.register_model`."""

from bench.models.registry import TrainableModel, get_model, model_names, register_model

__all__ = ["TrainableModel", "get_model", "model_names", "register_model"]
