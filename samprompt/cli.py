"""The `samprompt` command: demo, train, eval, predict."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from samprompt.errors import SamPromptError

SEMANTIC_BENCHMARKS = ("ade20k-150", "coco-stuff-171", "pascal-context-59", "voc-20", "voc-21")
INTERACTIVE_BENCHMARKS = ("grabcut", "berkeley", "davis", "sbd")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _point(text: str) -> tuple[float, float, int]:
    """X,Y or X,Y,LABEL (label 1 foreground, 0 background)."""
    parts = text.split(",")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"a point is X,Y or X,Y,LABEL; got {text!r}")
    try:
        x, y = float(parts[0]), float(parts[1])
        label = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"a point is X,Y or X,Y,LABEL with numbers; got {text!r}") from None
    if label not in (0, 1):
        raise argparse.ArgumentTypeError(f"a point's label is 1 (foreground) or 0 (background); got {label}")
    return x, y, label


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samprompt", description="Prompts for a frozen Segment Anything Model.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="fine-tune and evaluate the prompt modules on shapes world (offline, CPU)",
                               description="Fine-tunes every prompt module on the shipped small core and "
                                           "shapes world, prints a results table, writes metrics.json and overlays.")
    demo.add_argument("--out", default="out/demo", help="output folder (default: %(default)s)")
    demo.add_argument("--steps", type=_positive_int, default=150, help="fine-tuning steps per module (default: %(default)s)")
    demo.add_argument("--refsam-steps", type=_positive_int, default=600,
                      help="training steps of RefSAM and of its learned text-free baseline (default: %(default)s)")
    demo.add_argument("--escnet-steps", type=_positive_int, default=400,
                      help="training steps of ESC-Net (default: %(default)s)")
    demo.add_argument("--samref-steps", type=_positive_int, default=300,
                      help="training steps of the SAM-REF refiner (default: %(default)s)")
    demo.add_argument("--eval-items", type=_positive_int, default=200,
                      help="held-out objects scored per model (default: %(default)s)")
    demo.add_argument("--train-images", type=_positive_int, default=400,
                      help="distinct training scenes (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")

    train = commands.add_parser("train", help="train from a JSON config",
                                description="Trains a prompt module as a JSON file describes (see docs/training.md).")
    train.add_argument("--config", required=True, help="JSON training config")

    evaluate = commands.add_parser(
        "eval", help="score trained weights on shapes world or a referring video dataset",
        description="native: point and box mIoU on the shapes-world test split. refsam: mIoU / oIoU / prec@ "
                    "and J / F / J&F on shapes world, or online inference over Ref-YouTube-VOS / Ref-DAVIS17 "
                    "writing Annotations/<video>/<exp_id>/<frame>.png and submission.zip (scored when the "
                    "split has masks). escnet: mIoU, fwIoU, pixel accuracy and per-class IoU on shapes world "
                    "or a semantic benchmark (zero-shot: the benchmark's own class list). samref: the click "
                    "protocol (RITM simulator, up to --max-clicks) with and without the refiner: NoC@85/90/95, "
                    "NoF, 5-mIoU, per-click mIoU, seconds per click, on shapes world or an interactive benchmark.")
    evaluate.add_argument("--task", choices=("native", "refsam", "escnet", "samref"), default="native",
                          help="what the weights are (default: %(default)s)")
    evaluate.add_argument("--dataset", default="shapes",
                          choices=("shapes", "ref-youtube-vos", "ref-davis17", *SEMANTIC_BENCHMARKS,
                                   *INTERACTIVE_BENCHMARKS),
                          help="where to evaluate: video datasets for refsam, semantic benchmarks for escnet, "
                               "interactive benchmarks for samref (default: %(default)s)")
    evaluate.add_argument("--root", help="dataset root for the non-shapes datasets")
    evaluate.add_argument("--split", help="dataset split (default: valid for Ref-YouTube-VOS, val for DAVIS "
                                          "and SBD; required for semantic benchmarks)")
    evaluate.add_argument("--max-clicks", type=_positive_int, default=20,
                          help="samref: clicks per object (default: %(default)s)")
    evaluate.add_argument("--window", type=_positive_int,
                          help="escnet: sliding-window inference with this window side (1/3 overlap + global view)")
    evaluate.add_argument("--submission", default="out/submission",
                          help="folder for the video masks and submission.zip (default: %(default)s)")
    evaluate.add_argument("--variant", default="tiny", help="SAM variant (default: %(default)s)")
    evaluate.add_argument("--checkpoint", help="SAM checkpoint file (default: the shipped weights of the variant)")
    evaluate.add_argument("--weights", help="folder written by save_trained / samprompt train (adapters etc.)")
    evaluate.add_argument("--items", type=_positive_int, default=200, help="test objects (default: %(default)s)")
    evaluate.add_argument("--out", help="also write the metrics to this JSON file")

    predict = commands.add_parser("predict", help="segment one image with clicks, a box, a referring expression "
                                                  "or a list of class names",
                                  description="Writes mask.png and overlay.png for the best mask. --text needs "
                                              "--weights of a trained RefSAM (e.g. out/demo/refsam/trained); "
                                              "--classes needs --weights of a trained ESC-Net "
                                              "(e.g. out/demo/escnet/trained) and writes semantic.png, "
                                              "classes.png and the pixel share of each class. With --weights of "
                                              "a trained SAM-REF (e.g. out/demo/samref/trained), clicks are "
                                              "refined.")
    predict.add_argument("--image", required=True, help="an image file (converted to RGB)")
    predict.add_argument("--points", type=_point, nargs="+", metavar="X,Y[,LABEL]",
                         help="clicks in pixels; LABEL 1 foreground (default), 0 background")
    predict.add_argument("--box", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"), help="a box in pixels")
    predict.add_argument("--text", help="a referring expression (with --weights of a trained RefSAM)")
    predict.add_argument("--classes", nargs="+", help="class names (with --weights of a trained ESC-Net)")
    predict.add_argument("--variant", default="tiny", help="SAM variant (default: %(default)s)")
    predict.add_argument("--checkpoint", help="SAM checkpoint file (default: the shipped weights of the variant)")
    predict.add_argument("--weights", help="folder written by save_trained / samprompt train")
    predict.add_argument("--out", default="out/predict", help="output folder (default: %(default)s)")
    return parser


def _core_and_model(variant: str, checkpoint: str | None, weights: str | None):
    """SAM with native prompts: plain, with trained adapters, or with a trained SAM-REF refiner."""
    import samprompt
    from samprompt.samref.model import METADATA_KEY, SAMRef
    from samprompt.tuning import load_trained, read_trained_config

    core = samprompt.build_sam(variant, checkpoint=checkpoint)
    if weights and METADATA_KEY in read_trained_config(weights).get("metadata", {}):
        return core, SAMRef.load(weights, core).eval()
    model = samprompt.PromptedSam(core, samprompt.NativePrompts())
    if weights:
        load_trained(model, weights)
    return core, model


def _refsam_model(variant: str, checkpoint: str | None, weights: str | None):
    import samprompt
    from samprompt.refsam import RefSAM

    if not weights:
        raise SamPromptError("text prompts need --weights: a folder saved by a RefSAM training run "
                             "(samprompt demo writes one to out/demo/refsam/trained)")
    return RefSAM.load(weights, samprompt.build_sam(variant, checkpoint=checkpoint))


def _escnet_model(variant: str, checkpoint: str | None, weights: str | None):
    import samprompt
    from samprompt.escnet import ESCNet

    if not weights:
        raise SamPromptError("class names need --weights: a folder saved by an ESC-Net training run "
                             "(samprompt demo writes one to out/demo/escnet/trained)")
    return ESCNet.load(weights, samprompt.build_sam(variant, checkpoint=checkpoint)).eval()


def command_demo(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.demo import DemoSettings, run_demo

    return run_demo(args.out, DemoSettings(steps=args.steps, refsam_steps=args.refsam_steps,
                                           escnet_steps=args.escnet_steps, samref_steps=args.samref_steps,
                                           train_images=args.train_images,
                                           eval_items=args.eval_items, seed=args.seed,
                                           progress=not args.no_progress))


def command_train(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.recipes import run_training_config

    path = Path(args.config)
    if not path.is_file():
        raise SamPromptError(f"training config {str(path)!r} does not exist")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SamPromptError(f"training config {str(path)!r} is not valid JSON: {error}") from None
    return run_training_config(config)


def _eval_refsam(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.data import RefDAVIS17, RefYouTubeVOS, ShapesReferring, ShapesVideo
    from samprompt.refsam.submission import run_video_dataset
    from samprompt.tasks.refsam import RefSAMTask

    model = _refsam_model(args.variant, args.checkpoint, args.weights)
    if args.dataset == "shapes":
        images = [ShapesReferring("test", args.items)[i] for i in range(args.items)]
        clips = [ShapesVideo("test", args.items, frames=4)[i] for i in range(max(args.items // 4, 1))]
        return RefSAMTask().evaluate(model, images, clips)
    if not args.root:
        raise SamPromptError(f"--dataset {args.dataset} needs --root, the dataset folder")
    if args.dataset == "ref-youtube-vos":
        dataset = RefYouTubeVOS(args.root, args.split or "valid")
    else:
        dataset = RefDAVIS17(args.root, args.split or "val")
    return run_video_dataset(model, dataset, args.submission)


def _eval_escnet(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.data import ShapesSemantic
    from samprompt.data.semantic import semantic_dataset
    from samprompt.metrics.semantic import format_iou_table
    from samprompt.tasks.escnet import evaluate_semantic, model_predictor

    model = _escnet_model(args.variant, args.checkpoint, args.weights)
    if args.dataset == "shapes":
        dataset: Any = ShapesSemantic("test", args.items)
    elif args.dataset in SEMANTIC_BENCHMARKS:
        if not args.root or not args.split:
            raise SamPromptError(f"--dataset {args.dataset} needs --root (the dataset folder) and --split")
        dataset = semantic_dataset(args.dataset, args.root, args.split)
    else:
        raise SamPromptError(f"--dataset {args.dataset} is not a semantic-segmentation dataset")
    count = min(args.items, len(dataset)) if args.dataset == "shapes" else len(dataset)
    items = (dataset[i] for i in range(count))
    device = model.image_proj.weight.device
    matrix = evaluate_semantic(model_predictor(model, args.window), items, dataset.classes, batch_size=1,
                               device=device)
    summary = matrix.summary(dataset.classes)
    print(format_iou_table(summary["per_class_iou"]))
    return summary


def _eval_samref(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.data import ShapesInteractive, interactive_dataset
    from samprompt.interactive import compare_refiner
    from samprompt.samref import SAMRef

    _, model = _core_and_model(args.variant, args.checkpoint, args.weights)
    if not isinstance(model, SAMRef):
        raise SamPromptError("--task samref needs --weights: a folder saved by a SAM-REF training run "
                             "(samprompt demo writes one to out/demo/samref/trained)")
    if args.dataset == "shapes":
        dataset: Any = ShapesInteractive("test", args.items)
        count = args.items
    elif args.dataset in INTERACTIVE_BENCHMARKS:
        if not args.root:
            raise SamPromptError(f"--dataset {args.dataset} needs --root, the dataset folder")
        dataset = interactive_dataset(args.dataset, args.root, args.split or "val")
        count = len(dataset)
    else:
        raise SamPromptError(f"--dataset {args.dataset} is not an interactive-segmentation dataset")
    compared = compare_refiner(model, (dataset[i] for i in range(count)), max_clicks=args.max_clicks,
                               same_clicks=False, progress=True)
    return {"sam_alone": compared["sam_alone"][0], "samref": compared["refined"][0]}


def command_eval(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.data import ShapesInteractive
    from samprompt.tasks.native import NativeTask

    if args.task == "refsam":
        metrics = _eval_refsam(args)
    elif args.task == "escnet":
        metrics = _eval_escnet(args)
    elif args.task == "samref":
        metrics = _eval_samref(args)
    elif args.dataset != "shapes":
        raise SamPromptError(f"--dataset {args.dataset} is for --task refsam")
    else:
        _, model = _core_and_model(args.variant, args.checkpoint, args.weights)
        items = [ShapesInteractive("test", args.items)[i] for i in range(args.items)]
        metrics = NativeTask().evaluate(model, items)
    print(json.dumps(metrics, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(metrics, indent=2))
    return metrics


def command_predict(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from PIL import Image, UnidentifiedImageError

    from samprompt.visualize import overlay, save_png

    if not args.points and not args.box and args.text is None and not args.classes:
        raise SamPromptError("give --points and/or --box, or --text, or --classes")
    if sum(bool(x) for x in (args.points or args.box, args.text is not None, args.classes)) > 1:
        raise SamPromptError("--points/--box, --text and --classes are separate modes: give one")
    path = Path(args.image)
    if not path.is_file():
        raise SamPromptError(f"image {str(path)!r} does not exist")
    try:
        image = np.array(Image.open(path).convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise SamPromptError(f"{str(path)!r} is not a readable image: {error}") from None
    if args.classes:
        return _predict_classes(args, image)
    inputs: dict[str, Any] = {}
    if args.text is not None:
        model = _refsam_model(args.variant, args.checkpoint, args.weights)
        inputs["text"] = [args.text]
    else:
        _, model = _core_and_model(args.variant, args.checkpoint, args.weights)
    if args.points:
        inputs["points"] = torch.tensor([[[x, y] for x, y, _ in args.points]])
        inputs["labels"] = torch.tensor([[label for _, _, label in args.points]])
    if args.box:
        inputs["boxes"] = torch.tensor([args.box])
    multimask = bool(args.points) and len(args.points) == 1 and not args.box
    with torch.no_grad():
        prediction = model([image], multimask_output=multimask, **inputs)
    best = int(prediction.iou_predictions[0].argmax())
    mask = prediction.masks[0][best].cpu().numpy()
    out = Path(args.out)
    save_png(mask, out / "mask.png")
    save_png(overlay(image, mask), out / "overlay.png")
    result = {"mask": str(out / "mask.png"), "overlay": str(out / "overlay.png"),
              "predicted_iou": float(prediction.iou_predictions[0, best]), "area_fraction": float(mask.mean())}
    print(json.dumps(result, indent=2))
    return result


def _predict_classes(args: argparse.Namespace, image: np.ndarray) -> dict[str, Any]:
    import torch

    from samprompt.visualize import colour_labels, save_png

    model = _escnet_model(args.variant, args.checkpoint, args.weights)
    with torch.no_grad():
        semantic = model([image], args.classes).semantic[0].cpu().numpy().astype(np.uint8)
    out = Path(args.out)
    save_png(semantic, out / "semantic.png")
    save_png(colour_labels(semantic), out / "classes.png")
    shares = {name: float((semantic == k).mean()) for k, name in enumerate(args.classes)}
    result = {"semantic": str(out / "semantic.png"), "colours": str(out / "classes.png"), "class_share": shares}
    print(json.dumps(result, indent=2))
    return result


COMMANDS = {"demo": command_demo, "train": command_train, "eval": command_eval, "predict": command_predict}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (SamPromptError, FileNotFoundError, ValueError) as error:
        print(f"samprompt {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
