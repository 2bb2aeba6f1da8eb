"""Registry of SAM variants and `build_sam`, the entry point that builds a `SamCore`."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from samprompt.core.config import SamConfig
from samprompt.errors import ConfigError, UnknownVariantError

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore

_VARIANTS: dict[str, SamConfig] = {}


def register_variant(config: SamConfig, *, overwrite: bool = False) -> SamConfig:
    """Make `config` buildable by `build_sam(config.name)`."""
    if config.name in _VARIANTS and not overwrite:
        raise ConfigError(f"SAM variant {config.name!r} is already registered (pass overwrite=True to replace it)")
    _VARIANTS[config.name] = config
    return config


def available_variants() -> list[str]:
    return sorted(_VARIANTS)


def registered_variants() -> dict[str, SamConfig]:
    """Name -> architecture of every registered variant (a copy: register with `register_variant`)."""
    return dict(_VARIANTS)


# SAM 2.1 architectures, built by `samprompt.core.sam2_core` with Meta's `sam2` package (an extra).
SAM2_VARIANT_NAMES = ("sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l", "sam2_tiny",
                      "sam2_micro")


def get_variant(name: str) -> SamConfig:
    try:
        return _VARIANTS[name]
    except KeyError:
        raise UnknownVariantError(
            f"unknown SAM variant {name!r}; available variants: {', '.join(available_variants())} "
            f"(SAM 2.1: {', '.join(SAM2_VARIANT_NAMES)})"
        ) from None


def shipped_weights_path(config: SamConfig) -> Path | None:
    """The weights file that ships inside the package for `config`, if any is installed."""
    if config.shipped_weights is None:
        return None
    path = Path(__file__).resolve().parents[1] / "weights" / config.shipped_weights
    return path if path.is_file() else None


def has_shipped_weights(variant: str) -> bool:
    """Whether weights the package ships for `variant` (of either family) are installed."""
    if variant in SAM2_VARIANT_NAMES:
        from samprompt.core.sam2_core import shipped_sam2_weights

        return shipped_sam2_weights(variant) is not None
    return shipped_weights_path(get_variant(variant)) is not None


RANDOM_SEED_PREFIX = "random:seed="


def build_sam(variant: str | SamConfig, checkpoint: str | Path | None = None, *, pretrained: bool = True,
              frozen: bool = True, fast_attention: bool = True, seed: int | None = None) -> "SamCore":
    """Build a `SamCore` of a registered variant (or an explicit `SamConfig`).

    Args:
        variant: `vit_b`, `vit_l`, `vit_h` (official architectures), `tiny` (a small
            architecture for CPU work), `micro` (a random-init test size), any registered
            name, or a `SamConfig`; or a SAM 2.1 architecture (`SAM2_VARIANT_NAMES`), which
            gives a `Sam2Core` (`samprompt.core.sam2_core`; `fast_attention` does not apply;
            `sam2_tiny` is the small SAM 2 the package ships weights for, `sam2_micro` a test size).
        checkpoint: a local official checkpoint (`sam_vit_b_01ec64.pth` format: a plain
            `torch.save` state dict; `sam2.1_hiera_tiny.pt` for SAM 2.1: the state dict under
            "model") or a `.safetensors` file. None gives the weights the
            package ships for the variant (`tiny`), or random init for the others.
        pretrained: with `checkpoint=None`, load the shipped weights (False: random init).
        frozen: freeze the core's parameters (the default).
        fast_attention: run the encoder's attention through fused scaled-dot-product
            attention (`samprompt.core.fast_attention`; same outputs to float tolerance).
        seed: draw random-init weights from this seed (without touching the caller's random
            state); recorded as weights "random:seed=<seed>", so that a model trained on this
            core and saved can rebuild the very same core in another process.
    """
    import torch

    if isinstance(variant, str) and variant in SAM2_VARIANT_NAMES:
        try:
            from samprompt.core.sam2_core import build_sam2_core
        except ImportError as error:
            raise ConfigError(f"SAM 2.1 variant {variant!r} needs Meta's sam2 package: pip install "
                              f"'samprompt[sam2]' ({error})") from None
        return build_sam2_core(variant, checkpoint, frozen=frozen, seed=seed, pretrained=pretrained)

    from samprompt.core.sam_core import SamCore
    from samprompt.core.weights import load_sam_checkpoint

    config = variant if isinstance(variant, SamConfig) else get_variant(variant)
    if seed is None:
        sam = config.build()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            sam = config.build()
    weights = "random" if seed is None else f"{RANDOM_SEED_PREFIX}{seed}"
    if checkpoint is None and pretrained and shipped_weights_path(config) is not None:
        checkpoint, weights = shipped_weights_path(config), "shipped"
    if checkpoint is not None:
        load_sam_checkpoint(sam, checkpoint, variant=config.name)
        weights = "shipped" if weights == "shipped" else str(Path(checkpoint).resolve())
    return SamCore(sam, frozen=frozen, variant=config.name, fast_attention=fast_attention, weights=weights)


register_variant(SamConfig("vit_b", 768, 12, 12, (2, 5, 8, 11), checkpoint_file="sam_vit_b_01ec64.pth"))
register_variant(SamConfig("vit_l", 1024, 24, 16, (5, 11, 17, 23), checkpoint_file="sam_vit_l_0b3195.pth"))
register_variant(SamConfig("vit_h", 1280, 32, 16, (7, 15, 23, 31), checkpoint_file="sam_vit_h_4b8939.pth"))
# The small core the package ships weights for: 128 px input, 16 x 16 embedding, prompt width 128.
register_variant(SamConfig(
    "tiny", encoder_embed_dim=128, encoder_depth=6, encoder_num_heads=4,
    encoder_global_attn_indexes=(1, 3, 5), image_size=128, patch_size=8, encoder_window_size=8,
    prompt_embed_dim=128, mask_in_chans=16, decoder_mlp_dim=512, decoder_num_heads=4,
    iou_head_hidden_dim=128, shipped_weights="sam_tiny.safetensors",
))
# A very small random-init size for unit tests.
register_variant(SamConfig(
    "micro", encoder_embed_dim=32, encoder_depth=4, encoder_num_heads=2,
    encoder_global_attn_indexes=(1, 3), image_size=64, patch_size=8, encoder_window_size=4,
    prompt_embed_dim=32, mask_in_chans=8, decoder_mlp_dim=64, decoder_num_heads=2,
    iou_head_hidden_dim=32,
))
