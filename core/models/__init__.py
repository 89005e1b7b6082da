"""The networks: the U-Net, the 2-D MLP, the Fashion-MNIST classifier, and the registry checkpoints use."""

from core.models.classifier import (
    IMAGE_SIZE,
    MNIST_SIZE,
    ClassifierConfig,
    FashionClassifier,
    prepare_images,
)
from core.models.layers import (
    broadcast_timesteps,
    class_indices,
    config_from_dict,
    timestep_embedding,
)
from core.models.mlp import (
    MLPConfig,
    MLPDenoiser,
    ResidualBlock,
)
from core.models.registry import (
    ARCHITECTURES,
    Denoiser,
    build_denoiser,
    count_parameters,
    denoiser_config,
)
from core.models.unet import (
    DEFAULT_CPU_AUTOCAST,
    DEFAULT_MEMORY_FORMAT,
    UNET_PRESETS,
    Downsample,
    ResBlock,
    SelfAttention,
    Stage,
    UNet,
    UNetConfig,
    Upsample,
    preset_config,
    zero_module,
)

__all__ = [
    "ARCHITECTURES",
    "ClassifierConfig",
    "DEFAULT_CPU_AUTOCAST",
    "DEFAULT_MEMORY_FORMAT",
    "Denoiser",
    "Downsample",
    "FashionClassifier",
    "IMAGE_SIZE",
    "MLPConfig",
    "MLPDenoiser",
    "MNIST_SIZE",
    "ResBlock",
    "ResidualBlock",
    "SelfAttention",
    "Stage",
    "UNET_PRESETS",
    "UNet",
    "UNetConfig",
    "Upsample",
    "broadcast_timesteps",
    "build_denoiser",
    "class_indices",
    "config_from_dict",
    "count_parameters",
    "denoiser_config",
    "prepare_images",
    "preset_config",
    "timestep_embedding",
    "zero_module",
]
