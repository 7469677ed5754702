"""SwiftNet segmentation models, F2F forecasters and safe checkpoints.

    model = build_model("swiftnet_rn18", num_classes=19, backbone_weights=None)
    logits, feats = model.forward_with_features(x)      # logits at input size, SPP features at stride 32
    future_logits = decoder(forecaster(stack_past(past_feats)), out_size=x.shape[-2:])  # swiftcast.forecast.decoder
    save_checkpoint("out/ckpt", model, {"input_size": [512, 1024]}); model, config = load_checkpoint("out/ckpt")
"""

from swiftcast.models.checkpoint import load_checkpoint, load_segmentation_model, read_config, save_checkpoint
from swiftcast.models.f2f import stack_past
from swiftcast.models.registry import FORECASTERS, MODELS, build_forecaster, build_model
from swiftcast.models.swiftnet import SegmentationModel

__all__ = [
    "FORECASTERS",
    "MODELS",
    "SegmentationModel",
    "build_forecaster",
    "build_model",
    "load_checkpoint",
    "load_segmentation_model",
    "read_config",
    "save_checkpoint",
    "stack_past",
]
