"""`samprompt.Predictor` against `segment_anything.SamPredictor` on the same weights."""
import numpy as np
import pytest
import torch
from segment_anything import SamPredictor

import samprompt
from samprompt.errors import PromptError
from tests.conftest import random_image


@pytest.fixture
def pair(core, image):
    reference = SamPredictor(core.sam)
    ours = samprompt.Predictor(core)
    reference.set_image(image)
    ours.set_image(image)
    return reference, ours


def assert_same(a, b):
    for x, y in zip(a, b):
        assert x.shape == y.shape and x.dtype == y.dtype
        np.testing.assert_allclose(x.astype(np.float64), y.astype(np.float64), atol=1e-5, rtol=1e-5)


def test_image_embeddings_match(pair):
    reference, ours = pair
    torch.testing.assert_close(ours.get_image_embedding(), reference.get_image_embedding())
    assert ours.original_size == reference.original_size and ours.input_size == reference.input_size


@pytest.mark.parametrize("multimask", [True, False])
def test_points_match(pair, multimask):
    reference, ours = pair
    kwargs = dict(point_coords=np.array([[10, 20], [40, 30]]), point_labels=np.array([1, 0]),
                  multimask_output=multimask)
    assert_same(reference.predict(**kwargs), ours.predict(**kwargs))
    assert_same(reference.predict(return_logits=True, **kwargs), ours.predict(return_logits=True, **kwargs))


def test_box_and_box_with_points_match(pair):
    reference, ours = pair
    box = np.array([5, 5, 40, 30])
    assert_same(reference.predict(box=box, multimask_output=False), ours.predict(box=box, multimask_output=False))
    kwargs = dict(point_coords=np.array([[20, 20]]), point_labels=np.array([1]), box=box)
    assert_same(reference.predict(**kwargs), ours.predict(**kwargs))


def test_mask_input_matches(pair):
    reference, ours = pair
    _, _, low_res = reference.predict(point_coords=np.array([[20, 20]]), point_labels=np.array([1]))
    kwargs = dict(point_coords=np.array([[20, 20], [50, 10]]), point_labels=np.array([1, 1]),
                  mask_input=low_res[:1], multimask_output=False)
    assert_same(reference.predict(**kwargs), ours.predict(**kwargs))


def test_predict_torch_with_many_boxes_matches(pair):
    reference, ours = pair
    boxes = torch.tensor([[0.0, 0.0, 30.0, 30.0], [10.0, 5.0, 60.0, 40.0], [2.0, 2.0, 10.0, 12.0]])
    boxes = reference.transform.apply_boxes_torch(boxes, reference.original_size)
    for a, b in zip(reference.predict_torch(None, None, boxes=boxes), ours.predict_torch(None, None, boxes=boxes)):
        torch.testing.assert_close(a.float(), b.float(), atol=1e-5, rtol=1e-5)


def test_predict_batch_over_images_matches_one_image_at_a_time(core, rng):
    images = [random_image(rng, 50, 70), random_image(rng, 30, 60)]
    points = [np.array([[[10, 20], [40, 30]], [[5, 5], [6, 6]]]), np.array([[[12, 12]]])]
    labels = [np.array([[1, 0], [1, 1]]), np.array([[1]])]
    batch = samprompt.Predictor(core)
    batch.set_images(images)
    results = batch.predict_batch(point_coords=points, point_labels=labels)
    reference = SamPredictor(core.sam)
    for image, p, l, (masks, iou, low_res) in zip(images, points, labels, results):
        reference.set_image(image)
        for row in range(len(p)):
            expected = reference.predict(point_coords=p[row], point_labels=l[row])
            np.testing.assert_array_equal(masks[row].numpy(), expected[0])
            np.testing.assert_allclose(iou[row].numpy(), expected[1], atol=1e-5)
            np.testing.assert_allclose(low_res[row].numpy(), expected[2], atol=1e-4)


def test_out_of_range_click_is_refused(pair):
    _, ours = pair
    with pytest.raises(PromptError, match=r"point 1 of prompt row 0 at \(x=80, y=10\).*70 x 50"):
        ours.predict(point_coords=np.array([[10, 10], [80, 10]]), point_labels=np.array([1, 1]))
    with pytest.raises(PromptError, match="labels must be 1, 0 or -1"):
        ours.predict(point_coords=np.array([[10, 10]]), point_labels=np.array([3]))
    with pytest.raises(PromptError, match="x0 <= x1"):
        ours.predict(box=np.array([30, 5, 10, 20]))


def test_predict_needs_an_image(core):
    with pytest.raises(RuntimeError, match="set_image"):
        samprompt.Predictor(core).predict(point_coords=np.array([[1, 1]]), point_labels=np.array([1]))


def test_a_shipped_core_warns_once_that_it_knows_only_shapes_world(image):
    import warnings

    from samprompt.core import notices

    notices._told.clear()
    predictor = samprompt.Predictor(samprompt.build_sam("tiny"))
    with pytest.warns(notices.ShippedModelWarning, match="official checkpoint"):
        predictor.set_image(image)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predictor.set_image(image)  # said once per process
        samprompt.Predictor(samprompt.build_sam("micro")).set_image(image)


def test_the_shipped_sam2_core_points_to_an_official_sam2_checkpoint():
    from samprompt.core.config import CoreInfo
    from samprompt.core.notices import shipped_model_notice

    notice = shipped_model_notice(CoreInfo("sam2", "sam2_tiny", {}, "shipped"))
    assert "'sam2_tiny'" in notice and "--variant sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt" in notice
    assert "vit_b" in shipped_model_notice(CoreInfo("sam", "tiny", {}, "shipped"))
    assert shipped_model_notice(CoreInfo("sam2", "sam2_tiny", {}, "random:seed=0")) is None


@pytest.mark.parametrize("prompt, expected", [
    ({"box": np.array([1, 2, 3])}, r"box must be 4 numbers .* got shape \(3,\)"),
    ({"point_coords": np.array([[5, 5]]), "point_labels": np.array([1, 1, 1])}, r"point_labels must have shape \(1,\)"),
    ({"point_coords": np.array([[5, 5]]), "point_labels": np.array([0.5])}, r"got \[0.5\]"),
    ({"point_coords": np.array([5, 5]), "point_labels": np.array([1])}, r"point_coords must be N x 2"),
    ({"point_coords": np.array([[np.nan, 5]]), "point_labels": np.array([1])}, "NaN or infinite"),
    ({"box": np.array([1, 2, np.inf, 9])}, "box holds NaN or infinite"),
    ({"point_coords": np.array([[5, 5]]), "point_labels": np.array([1]), "mask_input": np.zeros((64, 64))},
     r"mask_input must be 1 x H x W"),
])
def test_malformed_prompts_are_refused_before_any_reshape(pair, prompt, expected):
    _, ours = pair
    with pytest.raises(PromptError, match=expected):
        ours.predict(**prompt)


def test_non_finite_mask_input_and_malformed_batches_are_refused(core, image):
    predictor = samprompt.Predictor(core)
    predictor.set_image(image)
    mask = np.full((1, *core.mask_input_size), np.nan, np.float32)
    with pytest.raises(PromptError, match="NaN or infinite"):
        predictor.predict(point_coords=np.array([[5, 5]]), point_labels=np.array([1]), mask_input=mask)
    predictor.set_images([image, image])
    with pytest.raises(PromptError, match="point_coords\\[0\\] must be K x N x 2"):
        predictor.predict_batch(point_coords=[np.zeros((3, 2)), np.zeros((1, 1, 2))],
                                point_labels=[np.ones(3), np.ones((1, 1))])
    with pytest.raises(PromptError, match="point_labels\\[1\\] must have shape \\(1, 1\\)"):
        predictor.predict_batch(point_coords=[np.zeros((1, 1, 2)), np.zeros((1, 1, 2))],
                                point_labels=[np.ones((1, 1)), np.ones((1, 2))])
    with pytest.raises(PromptError, match="image 0 has 2 point rows and 1 boxes"):
        predictor.predict_batch(point_coords=[np.zeros((2, 1, 2)), None], point_labels=[np.ones((2, 1)), None],
                                boxes=[np.array([[0, 0, 5, 5]]), np.array([[0, 0, 5, 5]])])
    with pytest.raises(PromptError, match="predict_torch works on one image, 2 are set"):
        predictor.predict_torch(torch.zeros(1, 1, 2), torch.ones(1, 1, dtype=torch.int))
