import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

from samprompt.cli import build_parser, main


@pytest.fixture
def picture(tmp_path):
    image = np.full((60, 80, 3), 90, np.uint8)
    image[15:45, 20:50] = (220, 40, 40)
    path = tmp_path / "picture.png"
    Image.fromarray(image).save(path)
    return path


def train(tmp_path, config) -> int:
    """Write `config` to a JSON file and run `samprompt train` on it; returns the exit status."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return main(["train", "--config", str(path)])


@pytest.mark.parametrize("command", ["demo", "train", "eval", "predict", "segment-all"])
def test_every_command_explains_its_options(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert text.count("--") >= 2 and "show this help message" in text


def test_predict_writes_mask_and_overlay(tmp_path, picture, capsys):
    out = tmp_path / "pred"
    code = main(["predict", "--image", str(picture), "--points", "30,30", "10,5,0", "--box", "15", "10", "55", "50",
                 "--variant", "micro", "--out", str(out)])
    assert code == 0
    assert Image.open(out / "mask.png").size == (80, 60)
    panel = np.asarray(Image.open(out / "overlay.png").convert("RGB"))
    assert panel.shape[0] >= 256 and panel.shape[1] >= 2 * 256  # image + prompt | prediction, enlarged
    green = (panel[..., 1] > 180) & (panel[..., 0] < 80) & (panel[..., 2] < 100)
    assert green.sum() > 50  # the positive click is marked (the picture has no green)
    assert json.loads(capsys.readouterr().out)["mask"].endswith("mask.png")


def test_predict_refuses_bad_input(tmp_path, picture, capsys):
    assert main(["predict", "--image", str(tmp_path / "missing.png"), "--points", "1,1", "--variant", "micro"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["predict", "--image", str(picture), "--variant", "micro"]) == 2
    assert "--points and/or --box" in capsys.readouterr().err
    assert main(["predict", "--image", str(picture), "--points", "500,5", "--variant", "micro",
                 "--out", str(tmp_path / "o")]) == 2
    assert "outside its 80 x 60" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", "--image", str(picture), "--points", "1;2"])
    assert "a point is X,Y" in capsys.readouterr().err
    for point in ("nan,5", "5,inf", "1,2,0.5"):
        with pytest.raises(SystemExit):
            main(["predict", "--image", str(picture), "--points", point])
        assert point in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", "--image", str(picture), "--box", "1", "2", "nan", "9", "--variant", "micro",
              "--out", str(tmp_path / "b")])
    assert "--box" in capsys.readouterr().err and not (tmp_path / "b" / "mask.png").exists()
    (tmp_path / "cut.png").write_bytes(picture.read_bytes()[:80])
    assert main(["predict", "--image", str(tmp_path / "cut.png"), "--points", "1,1", "--variant", "micro"]) == 2
    assert "--image" in capsys.readouterr().err
    assert main(["predict", "--image", str(tmp_path), "--points", "1,1", "--variant", "micro"]) == 2
    assert "is a folder, expected a file" in capsys.readouterr().err
    Image.fromarray(np.zeros((1, 4000, 3), np.uint8)).save(tmp_path / "thin.png")
    assert main(["predict", "--image", str(tmp_path / "thin.png"), "--points", "1,0", "--variant", "micro"]) == 2
    assert "4000 x 1 (W x H)" in capsys.readouterr().err
    assert main(["predict", "--image", str(picture), "--points", "1,1", "--variant", "vit_q"]) == 2
    assert "unknown SAM variant" in capsys.readouterr().err


def test_train_then_eval_with_the_trained_weights(tmp_path, capsys):
    config = {
        "variant": "micro", "lora": {"targets": ["encoder.qkv", "decoder.attn"], "rank": 2},
        "gradient_checkpointing": True,
        "data": {"size": 6, "shapes": {"image_size": 64, "max_objects": 3}}, "eval_items": 4,
        "train": {"steps": 3, "batch_size": 2, "lr": 1e-3, "output_dir": str(tmp_path / "run"), "progress": False},
    }
    assert train(tmp_path, config) == 0
    assert (tmp_path / "run" / "trained" / "adapter_model.safetensors").is_file()
    assert len(json.loads((tmp_path / "run" / "metrics.json").read_text())["losses"]) == 3
    capsys.readouterr()
    assert main(["eval", "--variant", "micro", "--weights", str(tmp_path / "run" / "trained"), "--items", "4",
                 "--out", str(tmp_path / "eval.json")]) == 0
    metrics = json.loads((tmp_path / "eval.json").read_text())
    assert 0.0 <= metrics["box_miou"] <= 1.0 and 0.0 <= metrics["point_miou"] <= 1.0


def test_train_config_errors_are_clear(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"task": "native", "varient": "micro"}))
    assert main(["train", "--config", str(path)]) == 2
    assert "unknown config keys ['varient']" in capsys.readouterr().err
    path.write_text("{not json")
    assert main(["train", "--config", str(path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_demo_on_tiny_settings_writes_metrics_and_overlays(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "2", "--refsam-steps", "2", "--escnet-steps", "2",
                 "--samref-steps", "2", "--eval-items", "4", "--train-images", "4", "--no-progress",
                 "--jobs", "2"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["lanes"]) == 2 and metrics["settings"]["jobs"] == 2       # sections side by side
    assert sorted([k for lane in metrics["lanes"] for k in lane] + ["mix_and_match"]) == sorted(metrics["modules"])
    native = metrics["modules"]["native_points_boxes"]
    assert set(native) >= {"random_init", "shipped", "lora_finetuned", "training"}
    assert native["shipped"]["box_miou"] > native["random_init"]["box_miou"]
    refsam = metrics["modules"]["refsam_text"]
    assert set(refsam) >= {"refsam", "constant_prompt", "centre_click", "whole_image_box", "best_text_free_baseline"}
    assert set(refsam["refsam"]["videos"]) == {"J", "F", "J&F", "count"}
    assert (out / "refsam" / "trained" / "adapter_config.json").is_file()
    assert len(list((out / "overlays").glob("native_*.png"))) == 4
    assert len(list((out / "overlays").glob("refsam_*.png"))) == 4
    escnet = metrics["modules"]["escnet_classes"]
    assert set(escnet) == {"clip_correlation", "escnet", "training"}
    assert escnet["training"]["held_out_class"] not in escnet["training"]["trained_classes"]
    assert 0 <= escnet["escnet"]["miou"] <= 1 and "held_out_iou" in escnet["clip_correlation"]
    assert (out / "escnet" / "trained" / "adapter_config.json").is_file()
    assert len(list((out / "overlays").glob("escnet_*.png"))) == 4
    samref = metrics["modules"]["samref_clicks"]
    assert set(samref) == {"sam_alone", "samref", "samref_on_sam_clicks", "training"}
    assert samref["sam_alone"]["objects"] == 2 and samref["sam_alone"]["seconds_per_click"]["refiner"] == 0
    assert samref["samref"]["seconds_per_click"]["refiner"] > 0
    assert (out / "samref" / "trained" / "adapter_config.json").is_file()
    assert len(list((out / "overlays").glob("samref_*.png"))) == 2
    plots = {p.name for p in (out / "plots").glob("*.png")}
    assert plots == {"native_loss.png", "refsam_loss.png", "escnet_loss.png", "escnet_per_class_iou.png",
                     "samref_loss.png", "samref_iou_per_click.png", "classes_loss.png", "mix_loss.png",
                     "mix_iou_per_click.png"}
    classes = metrics["modules"]["classes_on_sam"]
    assert set(classes) == {"training", "class_prompts", "untrained_class_prompts", "clip_correlation"}
    mix = metrics["modules"]["mix_and_match"]
    assert set(mix["single_prompt"]) == {"text", "click", "text+click", "sam_click", "text_choice"}
    assert set(mix["protocols"]) == {"clicks", "clicks_refined", "text_mask_then_sam", "text_then_clicks",
                                     "text_then_clicks_refined", "text_chooses_then_clicks", "classes_then_clicks"}
    assert mix["protocols"]["text_then_clicks"]["objects"] == 2 and "start_miou" in mix["protocols"]["text_then_clicks"]
    assert "start_miou" not in mix["protocols"]["text_chooses_then_clicks"]    # it starts from nothing
    assert len(list((out / "overlays").glob("mix_*.png"))) == 2      # one per object of the click protocol
    assert Image.open(out / "overlays" / "native_box_0.png").size[1] >= 256  # enlarged, captioned panels
    printed = capsys.readouterr().out
    assert "lora_finetuned" in printed and "J&F" in printed and "unseen" in printed and "NoC@90" in printed
    assert "text, then clicks (text kept)" in printed and "class prompts, trained" in printed
    assert "click, the text choosing SAM's mask" in printed and "click through SAM alone" in printed


def test_refsam_train_eval_predict_and_video_submission(tmp_path, picture, capsys):
    config = {
        "task": "refsam", "variant": "micro", "refsam": {"adapters": None, "dense": "da"}, "clip_frames": 2,
        "data": {"dataset": "shapes", "size": 6, "videos": 2, "frames": 2, "shapes": {"image_size": 64}},
        "eval_items": 2,
        "train": {"steps": 2, "batch_size": 2, "output_dir": str(tmp_path / "run"), "progress": False},
    }
    assert train(tmp_path, config) == 0
    weights = str(tmp_path / "run" / "trained")
    capsys.readouterr()
    assert main(["eval", "--task", "refsam", "--variant", "micro", "--weights", weights, "--items", "4",
                 "--out", str(tmp_path / "eval.json")]) == 0
    metrics = json.loads((tmp_path / "eval.json").read_text())
    assert set(metrics) == {"images", "videos"} and "J&F" in metrics["videos"]
    assert main(["predict", "--image", str(picture), "--text", "the red square", "--variant", "micro",
                 "--weights", weights, "--out", str(tmp_path / "pred")]) == 0
    assert Image.open(tmp_path / "pred" / "mask.png").size == (80, 60)
    assert main(["predict", "--image", str(picture), "--text", "the red square", "--variant", "micro"]) == 2
    assert "need --weights" in capsys.readouterr().err
    assert main(["predict", "--image", str(picture), "--text", " ", "--variant", "micro", "--weights", weights]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["eval", "--task", "refsam", "--dataset", "ref-youtube-vos", "--variant", "micro",
                 "--weights", weights]) == 2
    assert "needs --root" in capsys.readouterr().err


def test_refsam_eval_writes_a_ref_youtube_vos_submission(tmp_path, capsys):
    from tests.video_fixtures import write_frame

    root = tmp_path / "rvos"
    (root / "meta_expressions" / "valid").mkdir(parents=True)
    (root / "meta_expressions" / "valid" / "meta_expressions.json").write_text(json.dumps(
        {"videos": {"v1": {"frames": ["00000", "00005"], "expressions": {"0": {"exp": "a cat"}}}}}))
    for t, name in enumerate(["00000", "00005"]):
        write_frame(root / "valid" / "JPEGImages" / "v1" / f"{name}.jpg", t)
    config = {"task": "refsam", "variant": "micro", "refsam": "prompts_only", "clip_frames": 1,
              "data": {"size": 2, "videos": 0, "shapes": {"image_size": 64}}, "eval_items": 0,
              "train": {"steps": 1, "batch_size": 2, "output_dir": str(tmp_path / "run"), "progress": False}}
    assert train(tmp_path, config) == 0
    assert main(["eval", "--task", "refsam", "--variant", "micro", "--weights", str(tmp_path / "run" / "trained"),
                 "--dataset", "ref-youtube-vos", "--root", str(root), "--submission", str(tmp_path / "sub")]) == 0
    assert (tmp_path / "sub" / "Annotations" / "v1" / "0" / "00005.png").is_file()
    assert (tmp_path / "sub" / "submission.zip").is_file()


def test_escnet_train_eval_on_a_benchmark_layout_and_predict_classes(tmp_path, picture, capsys):
    from tests.data.test_semantic import write_pair

    config = {
        "task": "escnet", "variant": "micro", "size": 32, "sam_lr": 1e-5,
        "escnet": {"clip_image_size": 64, "templates": ["a {}"], "blocks": 1, "heads": 2, "guidance_dim": 4,
                   "decoder_dims": [4]},
        "data": {"dataset": "shapes", "size": 4, "shapes": {"image_size": 64}}, "eval_items": 2,
        "train": {"steps": 2, "batch_size": 2, "output_dir": str(tmp_path / "run"), "progress": False},
    }
    assert train(tmp_path, config) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["losses"]) == 2 and "miou" in metrics["evaluations"][-1]
    weights = str(tmp_path / "run" / "trained")

    root = tmp_path / "VOCdevkit" / "VOC2012"
    for stem in ("2007_000033", "2007_000042"):
        label = np.full((24, 30), 255, np.uint8)
        label[4:12, 5:20] = 14                                      # a person, background ignored (VOC-20)
        write_pair(root / "JPEGImages", root / "annotations_detectron2" / "val", stem, label)
    capsys.readouterr()
    assert main(["eval", "--task", "escnet", "--dataset", "voc-20", "--root", str(root), "--split", "val",
                 "--variant", "micro", "--weights", weights, "--window", "16", "--out", str(tmp_path / "e.json")]) == 0
    scores = json.loads((tmp_path / "e.json").read_text())
    assert set(scores) == {"miou", "macc", "fwiou", "pixel_accuracy", "per_class_iou", "convention"}
    assert len(scores["per_class_iou"]) == 20 and scores["convention"] == "detectron2"
    assert "person" in capsys.readouterr().out
    assert main(["eval", "--task", "escnet", "--dataset", "voc-20", "--root", str(root), "--split", "val",
                 "--variant", "micro", "--weights", weights, "--window", "16", "--miou-convention", "mmseg",
                 "--out", str(tmp_path / "m.json")]) == 0
    mmseg = json.loads((tmp_path / "m.json").read_text())       # only a person is labelled: mmseg also scores
    assert mmseg["convention"] == "mmseg" and mmseg["miou"] <= scores["miou"]    # the classes only predicted
    assert sum(v is not None for v in mmseg["per_class_iou"].values()) >= 1
    assert main(["eval", "--task", "escnet", "--dataset", "voc-20", "--variant", "micro", "--weights", weights]) == 2
    assert "needs --root" in capsys.readouterr().err

    out = tmp_path / "pred"
    assert main(["predict", "--image", str(picture), "--classes", "background", "square", "--variant", "micro",
                 "--weights", weights, "--out", str(out)]) == 0
    shares = json.loads(capsys.readouterr().out)["class_share"]
    assert set(shares) == {"background", "square"} and sum(shares.values()) == pytest.approx(1.0)
    assert Image.open(out / "semantic.png").size == (80, 60) and (out / "classes.png").is_file()
    assert main(["predict", "--image", str(picture), "--classes", "a", "--text", "b", "--variant", "micro",
                 "--weights", weights]) == 2
    assert "no method takes --text and --classes together" in capsys.readouterr().err
    assert main(["predict", "--image", str(picture), "--classes", "a", "a", "--variant", "micro",
                 "--weights", weights]) == 2
    assert "unique" in capsys.readouterr().err


def test_samref_train_eval_and_predict_with_refined_clicks(tmp_path, picture, capsys):
    from samprompt.cli import build_parser
    from samprompt.data import INTERACTIVE_BENCHMARKS

    dataset_choices = next(a for a in build_parser()._subparsers._group_actions[0].choices["eval"]._actions
                           if a.dest == "dataset").choices
    assert set(INTERACTIVE_BENCHMARKS) <= set(dataset_choices)
    config = {
        "task": "samref", "variant": "micro", "samref": {"local_size": 32, "width": 8, "blocks": 1},
        "max_extra_clicks": 1, "data": {"dataset": "shapes", "size": 4, "shapes": {"image_size": 64}},
        "eval_items": 2,
        "train": {"steps": 2, "batch_size": 2, "output_dir": str(tmp_path / "run"), "progress": False},
    }
    assert train(tmp_path, config) == 0
    weights = str(tmp_path / "run" / "trained")
    capsys.readouterr()
    assert main(["eval", "--task", "samref", "--variant", "micro", "--weights", weights, "--items", "2",
                 "--max-clicks", "3", "--out", str(tmp_path / "eval.json")]) == 0
    metrics = json.loads((tmp_path / "eval.json").read_text())
    assert set(metrics) == {"sam_alone", "samref"}
    assert len(metrics["samref"]["miou_per_click"]) == 3
    assert main(["predict", "--image", str(picture), "--variant", "micro", "--weights", weights,
                 "--points", "10,10", "30,20,0", "--out", str(tmp_path / "pred")]) == 0
    assert (tmp_path / "pred" / "mask.png").is_file()
    assert main(["eval", "--task", "samref", "--variant", "micro"]) == 2
    assert "need --weights" in capsys.readouterr().err
    assert main(["eval", "--task", "samref", "--variant", "micro", "--weights", weights, "--dataset", "grabcut"]) == 2
    assert "needs --root" in capsys.readouterr().err


def test_demo_runs_only_the_sections_asked_for(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--only", "native", "--native-steps", "1", "--eval-items", "2",
                 "--train-images", "2", "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["modules"]) == {"native_points_boxes"}
    section = metrics["section_seconds"]["native_points_boxes"]
    assert set(metrics["section_seconds"]) == {"native_points_boxes"} and 0 < section <= metrics["seconds"]
    assert metrics["settings"]["steps"]["native"] == 1 and metrics["settings"]["only"] == ["native"]
    assert metrics["modules"]["native_points_boxes"]["training"]["steps"] == 1
    assert "box mIoU" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--only", "sam3"])


def test_predict_says_what_the_shipped_core_is_for_and_how_to_load_a_real_checkpoint(tmp_path, picture, capsys):
    assert main(["predict", "--image", str(picture), "--points", "30,30", "--out", str(tmp_path / "p")]) == 0
    err = capsys.readouterr().err
    assert "trained only on the procedural shapes world" in err and "--variant vit_b --checkpoint" in err
    assert main(["predict", "--image", str(picture), "--points", "30,30", "--variant", "micro",
                 "--out", str(tmp_path / "q")]) == 0
    assert "shapes world" not in capsys.readouterr().err  # a random-init core is nobody's demo model


def test_classes_train_and_predict_alone_and_then_clicks(tmp_path, picture, capsys):
    config = {"method": "classes", "variant": "micro", "templates": ["a {}"], "pseudo": {"regions": 2},
              "lora": {"targets": ["decoder.attn"], "rank": 2},
              "data": {"dataset": "shapes", "size": 4, "shapes": {"image_size": 64}}, "eval_items": 2,
              "train": {"steps": 2, "batch_size": 2, "output_dir": str(tmp_path / "run"), "progress": False}}
    assert train(tmp_path, config) == 0
    assert "mask_miou" in json.loads((tmp_path / "run" / "metrics.json").read_text())["evaluations"][-1]
    weights = str(tmp_path / "run" / "trained")
    capsys.readouterr()
    assert main(["predict", "--image", str(picture), "--classes", "background", "square", "--variant", "micro",
                 "--weights", weights, "--out", str(tmp_path / "c")]) == 0
    assert set(json.loads(capsys.readouterr().out)["class_share"]) == {"background", "square"}
    assert main(["predict", "--image", str(picture), "--classes", "square", "background", "--points", "30,30",
                 "70,50,0", "--variant", "micro", "--weights", weights, "--out", str(tmp_path / "cc")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["class"] == "square" and result["clicks"] == 2
    assert Image.open(tmp_path / "cc" / "mask.png").size == (80, 60)
    assert Image.open(tmp_path / "cc" / "overlay.png").size[1] >= 256


def test_text_and_clicks_train_and_predict_together(tmp_path, picture, capsys):
    config = {"method": "refsam_clicks", "variant": "micro", "refsam": "prompts_only",
              "data": {"dataset": "shapes", "size": 4, "videos": 0, "shapes": {"image_size": 64}}, "eval_items": 2,
              "train": {"steps": 2, "batch_size": 2, "output_dir": str(tmp_path / "run"), "progress": False}}
    assert train(tmp_path, config) == 0
    scores = json.loads((tmp_path / "run" / "metrics.json").read_text())["evaluations"][-1]
    assert set(scores) >= {"text", "click", "text+click"}
    capsys.readouterr()
    assert main(["predict", "--image", str(picture), "--text", "the red square", "--points", "30,30",
                 "--variant", "micro", "--weights", str(tmp_path / "run" / "trained"),
                 "--out", str(tmp_path / "tc")]) == 0
    assert Image.open(tmp_path / "tc" / "mask.png").size == (80, 60)
    assert main(["predict", "--image", str(picture), "--text", "the red square", "--points", "30,30",
                 "--variant", "micro"]) == 2
    assert "refsam_clicks" in capsys.readouterr().err


def test_predict_reads_16_bit_and_refuses_a_decompression_bomb(tmp_path, capsys, monkeypatch):
    ramp = np.tile(np.linspace(0, 65535, 64), (48, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    assert main(["predict", "--image", str(tmp_path / "g16.png"), "--points", "30,20",
                 "--out", str(tmp_path / "o")]) == 0
    eight = np.round(ramp / 257).astype(np.uint8)
    Image.fromarray(np.stack([eight] * 3, -1)).save(tmp_path / "g8.png")
    assert main(["predict", "--image", str(tmp_path / "g8.png"), "--points", "30,20",
                 "--out", str(tmp_path / "o8")]) == 0
    Image.fromarray(np.full((48, 64, 3), 255, np.uint8)).save(tmp_path / "white.png")
    assert main(["predict", "--image", str(tmp_path / "white.png"), "--points", "30,20",
                 "--out", str(tmp_path / "w")]) == 0
    # the same picture at 16 and at 8 bits gives the same mask (clipped to white, it would not)
    masks = {name: np.asarray(Image.open(tmp_path / name / "mask.png")) for name in ("o", "o8", "w")}
    assert np.array_equal(masks["o"], masks["o8"]) and not np.array_equal(masks["o"], masks["w"])
    capsys.readouterr()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    assert main(["predict", "--image", str(tmp_path / "g16.png"), "--points", "30,20",
                 "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "too large to decode safely" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_outputs_under_a_file_fail_at_once_in_one_line(tmp_path, picture, capsys):
    (tmp_path / "file").write_text("x")
    config = {"variant": "micro", "lora": {"targets": ["decoder.attn"], "rank": 2},
              "data": {"size": 4, "shapes": {"image_size": 64}}, "eval_items": 0,
              "train": {"steps": 2, "batch_size": 2, "output_dir": str(tmp_path / "file" / "run"), "progress": False}}
    assert train(tmp_path, config) == 2
    assert "train.output_dir" in capsys.readouterr().err
    assert main(["predict", "--image", str(picture), "--points", "5,5", "--variant", "micro",
                 "--out", str(tmp_path / "file" / "p")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["eval", "--method", "native", "--variant", "micro", "--items", "2",
                 "--out", str(tmp_path / "file" / "e.json")]) == 2
    err = capsys.readouterr().err
    assert "the folder of --out" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("config, expected", [
    ({"train": {"steps": "three"}}, "training option 'steps' must be an integer, got 'three'"),
    ({"eval_items": "2"}, "config option 'eval_items' must be an integer"),
    ({"variant": 5}, "config option 'variant' must be a string"),
    ({"lora": {"targets": "decoder.attn", "rank": 2}}, "lora option 'targets' must be a list of strings"),
    ({"data": {"size": "4"}}, "dataset 'shapes' option 'size' must be an integer"),
    ({"data": {"shapes": {"image_size": "64"}}}, "shapes world option 'image_size' must be an integer"),
])
def test_config_values_are_type_checked_before_anything_runs(tmp_path, capsys, config, expected):
    base = {"variant": "micro", "lora": {"targets": ["decoder.attn"], "rank": 2},
            "train": {"steps": 1, "output_dir": str(tmp_path / "run"), "progress": False}}
    for key, value in config.items():
        base[key] = {**base[key], **value} if key == "train" else value
    assert train(tmp_path, base) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(importlib.util.find_spec("sam2") is None, reason="Meta's sam2 is not installed")
def test_demo_runs_every_module_on_a_sam2_core(tmp_path, monkeypatch, capsys):
    """`demo --core sam2` on the random-init sam2_micro (fast); without the shipped sam2_tiny
    weights the command refuses and says why."""
    from samprompt import demo
    from samprompt.core import registry

    monkeypatch.setattr(registry, "has_shipped_weights", lambda variant: False)
    assert main(["demo", "--core", "sam2", "--out", str(tmp_path / "refused")]) == 2
    assert "no weights for the small SAM 2 core" in capsys.readouterr().err
    monkeypatch.setitem(demo.DEMO_CORES, "sam2", "sam2_micro")
    out = tmp_path / "demo"
    metrics = demo.run_demo(out, demo.DemoSettings(steps={name: 2 for name in ("native", "refsam", "escnet", "samref",
                                                                              "classes", "refsam_clicks")},
                                                   train_images=4, eval_items=4, progress=False, core="sam2",
                                                   jobs=1))   # one process: the patched core table is this one's
    assert metrics["core"] == "sam2_micro (random:seed=0)" and metrics["settings"]["core"] == "sam2"
    assert set(metrics["modules"]) == {"native_points_boxes", "refsam_text", "escnet_classes", "samref_clicks",
                                       "classes_on_sam", "mix_and_match"}
    paths = metrics["modules"]["refsam_text"]["video_paths"]
    assert set(paths) == {"track_token", "sam2_memory"}
    assert all(set(v) == {"J", "F", "J&F", "count", "seconds_per_frame"} for v in paths.values())
    assert "SAM 2's memory" in demo.format_table(metrics)
    saved = json.loads((out / "refsam" / "trained" / "adapter_config.json").read_text())
    assert saved["core"]["family"] == "sam2" and saved["core"]["weights"] == "random:seed=0"


def test_segment_all_writes_records_label_map_and_overlay(tmp_path, capsys):
    from samprompt.data import ShapesInstances

    item = ShapesInstances("test", size=2)[1]
    Image.fromarray(item["image"]).save(tmp_path / "scene.png")
    out = tmp_path / "all"
    assert main(["segment-all", "--image", str(tmp_path / "scene.png"), "--classes", "circle", "square", "triangle",
                 "star", "ring", "cross", "background", "--out", str(out)]) == 0
    assert ", labelled:" in capsys.readouterr().out
    saved = json.loads((out / "masks.json").read_text())
    assert saved["settings"]["points_per_side"] == 16 and saved["count"] == len(saved["masks"]) >= 2
    labels = np.asarray(Image.open(out / "label_map.png"))
    assert labels.shape == (128, 128) and labels.max() == saved["count"]
    for index, record in enumerate(saved["masks"], start=1):
        assert record["label"] in ("circle", "square", "triangle", "star", "ring", "cross")
        assert isinstance(record["segmentation"]["counts"], str)       # COCO RLE
        assert (labels == index).sum() <= record["area"]                 # smaller masks are painted over it
    overlay = np.asarray(Image.open(out / "overlay.png").convert("RGB"))
    assert overlay.shape[1] >= 2 * 256
    assert main(["segment-all", "--image", str(tmp_path / "scene.png"), "--variant", "micro", "--points-per-side",
                 "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--layout", "pngs",
                 "--backend", "onnxruntime", "--out", str(tmp_path / "pngs")]) == 0
    count = json.loads((tmp_path / "pngs" / "masks.json").read_text())["count"]
    assert count > 0 and len(list((tmp_path / "pngs" / "masks").glob("mask_*.png"))) == count
    assert main(["segment-all", "--image", str(tmp_path / "scene.png"), "--text", item["labels"][0], "--classes",
                 "circle", "square", "triangle", "star", "ring", "cross", "--out", str(tmp_path / "text")]) == 0
    kept = json.loads((tmp_path / "text" / "masks.json").read_text())["masks"]
    assert all(r["label"] == item["labels"][0] for r in kept)


def test_segment_all_refuses_bad_settings_in_one_line(tmp_path, picture, capsys):
    assert main(["segment-all", "--image", str(picture), "--variant", "micro", "--pred-iou-thresh", "2",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "pred_iou_thresh must be a number in [0, 1], got 2.0" in err and "Traceback" not in err
    assert main(["segment-all", "--image", str(picture), "--variant", "micro", "--crop-n-layers", "-1",
                 "--out", str(tmp_path / "o")]) == 2
    assert "crop_n_layers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["segment-all", "--image", str(picture), "--points-per-side", "0"])
    assert "positive integer" in capsys.readouterr().err
