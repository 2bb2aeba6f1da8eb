"""Trainable parameters of each method on the official architectures, next to the papers' figures.

    python bench/parameters.py --out bench/results/parameters.json

Random-init vit_b / vit_l / vit_h cores (parameter counts do not depend on the weights):
- RefSAM, the paper's preset (Cross-Modal MLP, hierarchical dense attention, tracking module,
  bottleneck adapters, SAM's mask decoder) on a frozen stand-in text encoder of width 1024
  (T5-3B's width, the paper's text encoder; the encoder itself is frozen and not counted);
  the paper reports 9.9 M / 19.1 M / 33.0 M;
- SAM-REF with the default `SAMRefConfig` (global + local refiner); the paper: about 0.7 MB;
- LoRA rank 4 on every encoder block's qkv, for scale.
"""
from __future__ import annotations

import argparse

import torch
from shared import write_json
from torch import nn

import samprompt
from samprompt.refsam import RefSAM, refsam_preset
from samprompt.samref import SAMRef
from samprompt.text.encoders import TextEncoder
from samprompt.tuning import LoraSettings, add_lora, parameter_report

PAPER_REFSAM = {"vit_b": 9.9e6, "vit_l": 19.1e6, "vit_h": 33.0e6}


class WidthOnlyTextEncoder(TextEncoder):
    """A frozen stand-in with the text width of T5-3B; never called (only parameters are counted)."""

    def __init__(self, dim: int = 1024) -> None:
        super().__init__()
        self.dim = dim
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["vit_b", "vit_l", "vit_h"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for variant in args.variants:
        refsam = RefSAM(samprompt.build_sam(variant, pretrained=False), WidthOnlyTextEncoder(), refsam_preset("paper"))
        refsam_trainable = parameter_report(refsam).trainable
        del refsam
        samref = SAMRef(samprompt.build_sam(variant, pretrained=False))
        samref_trainable = parameter_report(samref).trainable
        core = samref.core
        total = sum(p.numel() for p in core.parameters())
        del samref
        add_lora(core, LoraSettings(targets=("encoder.qkv",), rank=4))
        lora = sum(p.numel() for n, p in core.named_parameters() if "lora_" in n)
        rows.append({"variant": variant, "sam_parameters": total, "refsam_trainable": refsam_trainable,
                     "refsam_paper": PAPER_REFSAM.get(variant), "samref_trainable": samref_trainable,
                     "samref_mb_float32": samref_trainable * 4 / 1e6, "encoder_qkv_lora_r4": lora})
        del core
    print(f"{'variant':<8}{'SAM':>10}{'RefSAM':>10}{'paper':>8}{'SAM-REF':>10}{'MB fp32':>9}{'qkv LoRA r4':>13}")
    for r in rows:
        paper = f"{r['refsam_paper'] / 1e6:.1f}M" if r["refsam_paper"] else "-"
        print(f"{r['variant']:<8}{r['sam_parameters'] / 1e6:>9.1f}M{r['refsam_trainable'] / 1e6:>9.2f}M{paper:>8}"
              f"{r['samref_trainable'] / 1e6:>9.3f}M{r['samref_mb_float32']:>9.2f}"
              f"{r['encoder_qkv_lora_r4'] / 1e6:>12.3f}M")
    write_json(args.out, rows)


if __name__ == "__main__":
    main()
