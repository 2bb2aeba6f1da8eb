"""The `samprompt` command: demo, train, eval, predict, segment-all, export."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from samprompt.errors import SamPromptError
from samprompt.utils.files import atomic_file, writable_directory


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
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
    if not (math.isfinite(x) and math.isfinite(y)):
        raise argparse.ArgumentTypeError(f"a point's X and Y must be finite pixel coordinates; got {text!r}")
    if label not in (0, 1):
        raise argparse.ArgumentTypeError(f"a point's label is 1 (foreground) or 0 (background); got {label}")
    return x, y, label


def build_parser() -> argparse.ArgumentParser:
    from samprompt.data import available_datasets
    from samprompt.demo import DEFAULT_JOBS, FULL_EVAL_ITEMS, QUICK_EVAL_ITEMS, demo_methods, preset_steps
    from samprompt.methods import available_methods, get_method
    from samprompt.metrics.semantic import CONVENTIONS

    methods = [get_method(name) for name in available_methods()]
    parser = argparse.ArgumentParser(prog="samprompt", description="Prompts for a frozen Segment Anything Model.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="fine-tune and evaluate the prompt modules on shapes world (offline, CPU)",
                               description="Fine-tunes every registered method that has a demo on the shipped small "
                                           "core and shapes world, prints a results table, writes metrics.json and "
                                           "overlays.")
    demo.add_argument("--out", default="out/demo", help="output folder (default: %(default)s)")
    demo.add_argument("--full", action="store_true",
                      help="the full demo: more training steps and 200 held-out items (about twice as long)")
    demo.add_argument("--steps", type=_positive_int,
                      help="training steps of every method (default: each method's own, below)")
    for method in demo_methods():
        demo.add_argument(f"--{method.name}-steps", type=_positive_int, dest=f"steps_{method.name}",
                          help=f"training steps of {method.name} (default: {preset_steps(method, False)}, "
                               f"with --full {preset_steps(method, True)})")
    demo.add_argument("--only", nargs="+", choices=[m.name for m in demo_methods()], metavar="METHOD",
                      help="run only these methods' sections")
    demo.add_argument("--eval-items", type=_positive_int,
                      help=f"held-out objects scored per model (default: {QUICK_EVAL_ITEMS}, "
                           f"with --full {FULL_EVAL_ITEMS})")
    demo.add_argument("--train-images", type=_positive_int, default=400,
                      help="distinct training scenes (default: %(default)s)")
    demo.add_argument("--core", choices=("sam", "sam2"), default="sam",
                      help="the shipped small core every module runs on: SAM's tiny or SAM 2's sam2_tiny "
                           "(default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--jobs", type=_positive_int, default=DEFAULT_JOBS,
                      help="sections run side by side, each in its own process with its share of the CPU "
                           "threads; the figures depend on it (default: %(default)s; 1: one after the other)")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")

    train = commands.add_parser("train", help="train from a JSON config",
                                description="Trains a registered method as a JSON file describes "
                                            "(see docs/training.md).")
    train.add_argument("--config", required=True, help="JSON training config")

    evaluate = commands.add_parser(
        "eval", help="score trained weights on shapes world or a benchmark",
        description="Scores a saved model (--weights; its method is read from the folder) or, for methods that "
                    "need no training, the plain core. " + " ".join(f"{m.name}: {m.summary}." for m in methods))
    evaluate.add_argument("--method", "--task", dest="method", choices=available_methods(),
                          help="the method (default: the one the --weights folder holds; without weights: "
                               + ", ".join(m.name for m in methods if not m.needs_weights) + ")")
    evaluate.add_argument("--dataset", default="shapes", choices=available_datasets(),
                          help="where to evaluate; each method takes the datasets of its kind (default: %(default)s)")
    evaluate.add_argument("--root", help="dataset root for the non-shapes datasets")
    evaluate.add_argument("--split", help="dataset split (default: the method's for that dataset)")
    evaluate.add_argument("--variant", default="tiny", help="SAM variant (default: %(default)s)")
    evaluate.add_argument("--checkpoint", help="SAM checkpoint file (default: the shipped weights of the variant)")
    evaluate.add_argument("--weights", help="folder written by samprompt.save / samprompt train")
    evaluate.add_argument("--items", type=_positive_int, default=200, help="test objects (default: %(default)s)")
    evaluate.add_argument("--out", help="also write the metrics to this JSON file")
    evaluate.add_argument("--miou-convention", choices=CONVENTIONS, default="detectron2",
                          help="semantic mIoU: which classes enter the mean (detectron2: those with ground-truth "
                               "pixels, as CAT-Seg and ESC-Net report; mmseg: those labelled or predicted; "
                               "default: %(default)s)")
    for method in methods:
        method.add_eval_arguments(evaluate.add_argument_group(f"{method.name} options"))

    predict = commands.add_parser("predict", help="segment one image with clicks, a box, a referring expression "
                                                  "or a list of class names",
                                  description="Writes mask.png and overlay.png for the best mask (class names: "
                                              "semantic.png, classes.png and each class's pixel share). Without "
                                              "--weights, clicks and boxes prompt the plain core; with --weights "
                                              "the saved method answers the prompts it takes: "
                                              + "; ".join(f"{m.name}: {', '.join(sorted(m.predict_inputs))}"
                                                          for m in methods if m.predict_inputs) + ".")
    predict.add_argument("--image", required=True, help="an image file (converted to RGB)")
    predict.add_argument("--points", type=_point, nargs="+", metavar="X,Y[,LABEL]",
                         help="clicks in pixels; LABEL 1 foreground (default), 0 background")
    predict.add_argument("--box", type=_finite, nargs=4, metavar=("X0", "Y0", "X1", "Y1"), help="a box in pixels")
    predict.add_argument("--text", help="a referring expression (with --weights of a method that takes text)")
    predict.add_argument("--classes", nargs="+", help="class names (with --weights of a method that takes classes)")
    predict.add_argument("--variant", default="tiny", help="SAM variant (default: %(default)s)")
    predict.add_argument("--checkpoint", help="SAM checkpoint file (default: the shipped weights of the variant)")
    predict.add_argument("--weights", help="folder written by samprompt.save / samprompt train")
    predict.add_argument("--out", default="out/predict", help="output folder (default: %(default)s)")

    segment = commands.add_parser(
        "segment-all", help="segment everything in an image (automatic mask generation), optionally naming the masks",
        description="A grid of clicks over the image, filtered and de-duplicated as segment-anything's automatic "
                    "mask generator does. Writes masks.json (records, COCO RLE), the masks (label_map.png or one "
                    "PNG per mask) and overlay.png. With --classes each mask is named by CLIP on a crop around it "
                    "(masks named 'background' are dropped); with --text only masks matching the text are kept. "
                    "Unset thresholds take segment-anything's defaults, or on the shipped small core the "
                    "settings tuned for it on shapes world (docs/deploy.md).")
    segment.add_argument("--image", required=True, help="an image file (converted to RGB)")
    segment.add_argument("--classes", nargs="+", help="class names to label the masks with (with --text: the names "
                                                      "the text is told apart from)")
    segment.add_argument("--text", help="keep only the masks that match this text better than 'background' (and "
                                        "better than each of --classes, if given)")
    segment.add_argument("--variant", default="tiny", help="SAM variant (default: %(default)s)")
    segment.add_argument("--checkpoint", help="SAM checkpoint file (default: the shipped weights of the variant)")
    segment.add_argument("--clip", default="shapes",
                         help="open_clip model for --classes / --text: 'shapes' (shipped) or a model name with "
                              "--clip-checkpoint (default: %(default)s)")
    segment.add_argument("--clip-checkpoint", help="local weights file of the --clip model")
    segment.add_argument("--points-per-side", type=_positive_int, help="clicks per side of the grid (32; shipped: 16)")
    segment.add_argument("--points-per-batch", type=_positive_int, help="clicks decoded together (64)")
    segment.add_argument("--pred-iou-thresh", type=_finite, help="keep masks above this predicted IoU (0.88; "
                                                                  "shipped: 0.6)")
    segment.add_argument("--stability-score-thresh", type=_finite, help="keep masks at least this stable (0.95; "
                                                                         "shipped: 0.7)")
    segment.add_argument("--box-nms-thresh", type=_finite, help="box IoU of duplicates (0.7)")
    segment.add_argument("--crop-n-layers", type=int, help="crop layers beyond the whole image (0)")
    segment.add_argument("--min-mask-region-area", type=int, help="fill holes / drop islands below this many "
                                                                   "pixels (0; shipped: 20)")
    segment.add_argument("--backend", choices=("pytorch", "onnxruntime"), default="pytorch",
                         help="decode the clicks with the core in PyTorch, or with its prompt decoder exported to "
                              "ONNX Runtime (faster on CPU; SAM cores; default: %(default)s)")
    segment.add_argument("--layout", choices=("labelmap", "pngs"), default="labelmap",
                         help="one 16-bit label map, or one PNG per mask (default: %(default)s)")
    segment.add_argument("--out", default="out/segment_all", help="output folder (default: %(default)s)")

    export = commands.add_parser(
        "export", help="export the image encoder and the prompt path to ONNX, checked in ONNX Runtime",
        description="Writes encoder.onnx (LoRA merged), the method's prompt graphs (prompt_decoder.onnx for clicks, "
                    "boxes and masks; text_prompt_decoder.onnx, class_prompt_decoder.onnx, escnet.onnx, SAM-REF's "
                    "refiners; a dynamic number of prompt rows) and manifest.json (inputs, outputs, preprocessing, "
                    "the largest difference to PyTorch that ONNX Runtime gave). Without --weights, the plain core "
                    "(clicks, boxes, mask prompts). --text / --classes also write their precomputed text features "
                    "or class embeddings to prompt_inputs.npz.")
    export.add_argument("--weights", help="folder written by samprompt.save / samprompt train")
    export.add_argument("--variant", default="tiny", help="SAM variant (default: %(default)s)")
    export.add_argument("--checkpoint", help="SAM checkpoint file (default: the shipped weights of the variant)")
    export.add_argument("--parts", nargs="+", choices=("encoder", "prompt_decoder"),
                        help="what to export (default: every part the model has)")
    export.add_argument("--text", nargs="+", help="expressions whose text features to precompute (text methods)")
    export.add_argument("--classes", nargs="+", help="class names whose embeddings to precompute (class methods)")
    export.add_argument("--single-mask", action="store_true",
                        help="the prompt decoder returns SAM's single mask instead of the 3 ambiguity masks")
    export.add_argument("--out", default="out/onnx", help="output folder (default: %(default)s)")
    return parser


def _model(args: argparse.Namespace, wanted: str | None, purpose: str) -> tuple[Any, Any]:
    """(method, model): the saved model of `--weights` (checked against `wanted`), or the untrained
    model of `wanted` (default: the first registered method that needs no weights)."""
    from samprompt.core.registry import build_sam
    from samprompt.methods import available_methods, get_method, load, read_saved_config

    core = build_sam(args.variant, checkpoint=args.checkpoint)
    if args.weights:
        saved = (read_saved_config(args.weights).get("method") or {}).get("name")
        if saved is None:
            raise SamPromptError(f"--weights {args.weights!r} holds weights of no registered method")
        if wanted is not None and saved != wanted:
            raise SamPromptError(f"--weights {args.weights!r} holds a {saved!r} model, not {wanted!r}")
        return get_method(saved), load(args.weights, core)
    candidates = [get_method(wanted)] if wanted else [get_method(n) for n in available_methods()
                                                       if not get_method(n).needs_weights]
    method = candidates[0] if candidates else None
    if method is None or method.needs_weights:
        name = wanted or "these"
        raise SamPromptError(f"{purpose}: {name} models need --weights, a folder saved by a {name} training run "
                             f"(samprompt demo writes one to out/demo/{name}/trained)")
    return method, method.untrained(core).eval()


def require_shipped_sam2_core() -> None:
    """`demo --core sam2` runs on the small SAM 2 core the package ships; refuse where it is absent."""
    from samprompt.core.registry import has_shipped_weights
    from samprompt.demo import DEMO_CORES

    try:
        shipped = has_shipped_weights(DEMO_CORES["sam2"])
    except ImportError as error:
        raise SamPromptError(f"--core sam2 needs Meta's sam2 package: pip install 'samprompt[sam2]' "
                             f"({error})") from None
    if not shipped:
        raise SamPromptError("--core sam2: no weights for the small SAM 2 core (sam2_tiny) are installed in "
                             "samprompt/weights (they ship with the package: reinstall it); or make them with "
                             "python -m samprompt.pretrain.tiny_sam --variant sam2_tiny --decoder-from-tiny and "
                             "python -m samprompt.pretrain.sam2_memory, or run the demo on SAM's core (--core sam)")


def command_demo(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.demo import DemoSettings, demo_methods, run_demo

    if args.core == "sam2":
        require_shipped_sam2_core()
    asked = {m.name: getattr(args, f"steps_{m.name}") or args.steps for m in demo_methods()}
    steps = {name: value for name, value in asked.items() if value}
    return run_demo(args.out, DemoSettings(full=args.full, steps=steps, train_images=args.train_images,
                                           eval_items=args.eval_items,
                                           seed=args.seed, progress=not args.no_progress,
                                           only=tuple(args.only) if args.only else None, core=args.core,
                                           jobs=args.jobs))


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


def command_eval(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.data import get_dataset
    from samprompt.methods import EvalRequest

    if args.out:
        writable_directory(Path(args.out).parent, "the folder of --out")
        if Path(args.out).is_dir():
            raise SamPromptError(f"--out {args.out!r} is a folder; give the JSON file to write")
    method, model = _model(args, args.method, "evaluating")
    if args.dataset != "shapes":
        get_dataset(args.dataset, method.data_kind)  # names the datasets this method can use
    request = EvalRequest(args.dataset, args.root, args.split, args.items, args)
    metrics = method.evaluate(model, request)
    print(json.dumps(metrics, indent=2))
    if args.out:
        with atomic_file(args.out) as staging:
            staging.write_text(json.dumps(metrics, indent=2))
    return metrics


def command_predict(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.core.notices import shipped_model_notice
    from samprompt.data.files import read_rgb
    from samprompt.methods import PredictRequest, available_methods, get_method

    given = {name: value for name, value in (("points", args.points), ("box", args.box), ("text", args.text),
                                              ("classes", args.classes)) if value is not None}
    if not given:
        raise SamPromptError("give --points and/or --box, or --text, or --classes")
    # without --weights, a method that needs none first (plain SAM for clicks), then the most specific one
    takers = sorted((get_method(n) for n in available_methods() if set(given) <= get_method(n).predict_inputs),
                    key=lambda m: (m.needs_weights, len(m.predict_inputs), m.name))
    if not takers:
        offered = "; ".join(f"{m.name}: {', '.join('--' + k for k in sorted(m.predict_inputs))}"
                            for m in (get_method(n) for n in available_methods()) if m.predict_inputs)
        raise SamPromptError(f"no method takes {' and '.join('--' + k for k in given)} together; what each method "
                             f"takes ({offered})")
    image = read_rgb(args.image, "--image")
    writable_directory(args.out, "--out")
    wanted = None if args.weights else takers[0].name
    method, model = _model(args, wanted, f"--{' --'.join(given)}")
    notice = shipped_model_notice(method.core_info(model))
    if notice:
        print(f"samprompt predict: note: {notice}", file=sys.stderr)
    if not set(given) <= method.predict_inputs:
        raise SamPromptError(f"--weights {args.weights!r} holds a {method.name!r} model, which takes "
                             f"{', '.join('--' + k for k in sorted(method.predict_inputs))}, not "
                             f"{', '.join('--' + k for k in given)}")
    return method.predict(model, PredictRequest(image, given, Path(args.out)))


SEGMENT_SETTINGS = ("points_per_side", "points_per_batch", "pred_iou_thresh", "stability_score_thresh",
                    "box_nms_thresh", "crop_n_layers", "min_mask_region_area")


def command_segment_all(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.automatic import AutomaticMaskGenerator
    from samprompt.automatic.config import settings_for
    from samprompt.automatic.labels import MaskLabeller
    from samprompt.automatic.outputs import write_masks
    from samprompt.clip.models import load_clip
    from samprompt.core.registry import build_sam
    from samprompt.data.files import read_rgb

    image = read_rgb(args.image, "--image")
    writable_directory(args.out, "--out")
    core = build_sam(args.variant, checkpoint=args.checkpoint)
    given = {name: getattr(args, name) for name in SEGMENT_SETTINGS if getattr(args, name) is not None}
    settings = {**settings_for(core), **given}
    records = AutomaticMaskGenerator(core, backend=args.backend, **settings).generate(image)
    if args.classes or args.text:
        labeller = MaskLabeller(load_clip(args.clip, args.clip_checkpoint))
        if args.text:
            others = ("background", *[c for c in args.classes or () if c not in ("background", args.text)])
            records = labeller.matching(image, records, args.text, others=others)
        else:
            records = labeller.label(image, records, args.classes)
    summary = write_masks(image, records, args.out, layout=args.layout, settings=settings,
                          classes=[args.text] if args.text else args.classes)
    found = f", labelled: {', '.join(summary['labels_found']) or 'none'}" if "labels_found" in summary else ""
    print(f"samprompt segment-all: {len(records)} mask{'s' if len(records) != 1 else ''}{found}; wrote "
          f"{args.out}/masks.json, "
          f"{'label_map.png' if args.layout == 'labelmap' else 'masks/'}, overlay.png")
    return summary


def command_export(args: argparse.Namespace) -> dict[str, Any]:
    from samprompt.core.registry import build_sam
    from samprompt.export import export_onnx
    from samprompt.methods import load

    writable_directory(args.out, "--out")
    core = build_sam(args.variant, checkpoint=args.checkpoint)
    model = load(args.weights, core) if args.weights else core
    manifest = export_onnx(model, args.out, parts=tuple(args.parts) if args.parts else None,
                           multimask_output=not args.single_mask, text=args.text, classes=args.classes)
    for name, graph in manifest["graphs"].items():
        worst = max(v for check in graph["largest_difference_to_pytorch"].values() for v in check.values())
        print(f"samprompt export: {args.out}/{graph['file']} (largest difference to PyTorch in ONNX Runtime: "
              f"{worst:.2g})")
    if "prompt_inputs" in manifest:
        shapes = manifest["prompt_inputs"]["arrays"]
        arrays = ", ".join(f"{n} {'x'.join(map(str, shape))}" for n, shape in shapes.items())
        print(f"samprompt export: {args.out}/prompt_inputs.npz ({arrays})")
    return manifest


COMMANDS = {"demo": command_demo, "train": command_train, "eval": command_eval, "predict": command_predict,
            "segment-all": command_segment_all, "export": command_export}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (SamPromptError, FileNotFoundError, ValueError) as error:
        print(f"samprompt {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:   # a full disk, no permission, a file where a folder belongs: one line
        where = f": {error.filename!r}" if error.filename else ""
        print(f"samprompt {args.command}: error: {error.strerror or error}{where}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
