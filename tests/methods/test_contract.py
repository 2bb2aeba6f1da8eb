"""Contract tests run over every registered method (built-in and installed plug-ins).

In the spirit of peft's common tester and timm's tests over every registered model: each method
gives a small model on a `micro` core (`Method.example`) and one differentiable tensor from a
forward pass (`Method.example_output`); these tests check what every method must do with them.
Forward / backward, save / load and bf16 autocast run on both core families: SAM's `micro` and
SAM 2's `sam2_micro` (Meta's SAM 2.1 tiny design scaled down, 128 px; where `sam2` is installed).
"""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

import samprompt
from samprompt.errors import CheckpointError
from samprompt.methods import available_methods, get_method, load_trained, method_of

METHODS = available_methods()
SEED = 0
FAMILIES = ["sam", pytest.param("sam2", marks=pytest.mark.skipif(
    importlib.util.find_spec("sam2") is None, reason="Meta's sam2 is not installed"))]


def fresh_core(family: str = "sam", seed: int = SEED) -> samprompt.SamCore:
    """A seeded random-init core: SAM's `micro`, or SAM 2's `sam2_micro` (8 x 8 embedding)."""
    torch.manual_seed(seed)
    if family == "sam2":
        return samprompt.build_sam("sam2_micro", seed=seed)
    return samprompt.build_sam("micro")


def example(name: str, seed: int = SEED, family: str = "sam"):
    """(method, its example model on a fresh seeded core of `family`)."""
    method = get_method(name)
    return method, method.example(fresh_core(family, seed=seed))


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Two small random images of one size (ESC-Net batches same-size images)."""
    rng = np.random.RandomState(0)
    return [rng.randint(0, 256, (48, 56, 3), dtype=np.uint8) for _ in range(2)]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, object]:
    """Every method's example, saved once: name -> folder."""
    root = tmp_path_factory.mktemp("saved_examples")
    return {name: samprompt.save(example(name)[1], root / name) for name in METHODS}


@pytest.mark.parametrize("name", METHODS, ids=METHODS)
def test_example_builds_and_is_recognised(name):
    method, model = example(name)
    assert isinstance(model, method.model_class)
    assert method.handles(model)
    assert samprompt.methods.method_of(model) is method
    for other in METHODS:
        if other != name:
            assert not get_method(other).handles(model), f"{other!r} also claims a {name!r} model"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", METHODS, ids=METHODS)
def test_forward_and_backward_reach_every_trainable_parameter(name, family, images):
    method = get_method(name)
    core = fresh_core(family)
    model = method.example(core)
    model.train()
    output = method.example_output(model, images)
    assert output.requires_grad, "example_output must be differentiable"
    assert torch.isfinite(output).all()
    output.float().sum().backward()

    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, f"{name}: the example has no trainable parameter"
    missing = sorted(n for n, p in trainable.items() if p.grad is None)
    assert not missing, f"{name}: no gradient reached {len(missing)} trainable parameters, e.g. {missing[:5]}"
    not_finite = sorted(n for n, p in trainable.items() if not torch.isfinite(p.grad).all())
    assert not not_finite, f"{name}: non-finite gradients in {not_finite[:5]}"
    frozen_with_grad = sorted(n for n, p in model.named_parameters() if not p.requires_grad and p.grad is not None)
    assert not frozen_with_grad, f"{name}: frozen weights got gradients: {frozen_with_grad[:5]}"
    # The core itself (ESC-Net holds only parts of it): its frozen weights stay without gradient.
    core_frozen = {n: p for n, p in core.named_parameters() if not p.requires_grad}
    assert core_frozen and all(p.grad is None for p in core_frozen.values()), f"{name}: frozen core weights got grads"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", METHODS, ids=METHODS)
def test_save_and_load_reproduce_the_output_exactly(name, family, images, tmp_path):
    method, model = example(name, family=family)
    with torch.no_grad():  # not the initial values: a zero-initialised part would round-trip trivially
        generator = torch.Generator().manual_seed(1)
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.1)
    model.eval()
    with torch.no_grad():
        expected = method.example_output(model, images)

    folder = samprompt.save(model, tmp_path / "saved")
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["method"]["name"] == method.name
    assert isinstance(config["method_config"], dict)

    assert config["core"]["family"] == family
    loaded = samprompt.load(folder, core=fresh_core(family))
    assert isinstance(loaded, method.model_class) and method_of(loaded) is method
    assert not loaded.training
    with torch.no_grad():
        actual = method.example_output(loaded, images)
    assert actual.shape == expected.shape
    assert torch.equal(actual, expected), f"{name}: max difference {(actual - expected).abs().max().item()}"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", METHODS, ids=METHODS)
def test_runs_under_bfloat16_autocast(name, family, images):
    method, model = example(name, family=family)
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        output = method.example_output(model, images)
    assert torch.isfinite(output.float()).all()


@pytest.mark.parametrize("name", METHODS, ids=METHODS)
def test_refuses_another_methods_weights(name, saved):
    others = [other for other in METHODS if other != name]
    if not others:
        pytest.skip("only one method is registered")
    _, model = example(name)
    for other in others:
        with pytest.raises(CheckpointError) as info:
            load_trained(model, saved[other])
        message = str(info.value)
        assert repr(other) in message and repr(name) in message, message


@pytest.mark.parametrize("name", METHODS, ids=METHODS)
def test_a_random_init_core_must_be_passed(name, saved):
    with pytest.raises(CheckpointError, match=r"random-init.*pass core="):
        samprompt.load(saved[name])


@pytest.mark.parametrize("name", METHODS, ids=METHODS)
def test_loading_onto_another_variant_names_both(name, saved):
    with pytest.raises(CheckpointError, match="saved for SAM variant 'micro', but this core is 'tiny'"):
        samprompt.load(saved[name], core=samprompt.build_sam("tiny"))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", METHODS, ids=METHODS)
def test_exports_to_onnx_and_onnx_runtime_agrees_with_pytorch(name, family, tmp_path):
    """Every method's whole path (encoder with its levels when it has a core, prompt graphs) is
    exported and checked in ONNX Runtime on the example inputs and on inputs of other sizes."""
    pytest.importorskip("onnxruntime")
    from samprompt.export import export_onnx

    method, model = example(name, family=family)
    manifest = export_onnx(model, tmp_path)
    assert manifest["method"] == name
    assert ("encoder" in manifest["graphs"]) == (getattr(model, "core", None) is not None)
    assert len(manifest["graphs"]) >= 2 - ("encoder" not in manifest["graphs"])
    for graph in manifest["graphs"].values():
        assert (tmp_path / graph["file"]).stat().st_size > 0
        checks = graph["largest_difference_to_pytorch"]
        assert set(checks) == {"example", "other_shapes"}
        assert 0 <= max(v for check in checks.values() for v in check.values()) <= manifest["tolerance"]
