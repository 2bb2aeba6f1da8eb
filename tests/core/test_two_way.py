import shutil
import threading
import time

import pytest
import torch

import samprompt
from samprompt.core.two_way import two_way_transformer

SIDE = 8  # the micro core's embedding is 8 x 8


def random_inputs(core, rows: int, tokens: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    width = core.sam.mask_decoder.transformer.embedding_dim
    image = torch.randn(rows, width, SIDE, SIDE, generator=generator)
    pe = torch.randn(rows, width, SIDE, SIDE, generator=generator)
    points = torch.randn(rows, tokens, width, generator=generator)
    return image, pe, points


def ragged_batch(core, lengths: list[int], seed: int = 0):
    """Rows of `lengths` real tokens, each also alone, padded to the longest with large garbage tokens."""
    longest = max(lengths) + 2  # every row gets padding, even the longest
    image, pe, points = random_inputs(core, len(lengths), longest, seed)
    padding = torch.arange(longest)[None, :] >= torch.tensor(lengths)[:, None]
    points = torch.where(padding[..., None], 50 * points, points)
    alone = [(image[i:i + 1], pe[i:i + 1], points[i:i + 1, :n]) for i, n in enumerate(lengths)]
    return (image, pe, points, padding), alone


def assert_close(actual: tuple[torch.Tensor, ...], expected: tuple[torch.Tensor, ...], atol: float = 1e-5) -> None:
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        assert torch.allclose(a, e, atol=atol), (a - e).abs().max()


@pytest.mark.parametrize("fast_attention", [True, False])
def test_without_padding_equals_segment_anything(fast_attention):
    torch.manual_seed(0)
    core = samprompt.build_sam("micro", fast_attention=fast_attention)
    transformer = core.sam.mask_decoder.transformer
    image, pe, points = random_inputs(core, 3, 7)
    with torch.no_grad():
        expected = transformer(image, pe, points)
        assert_close(two_way_transformer(transformer, image, pe, points), expected)
        no_padding = torch.zeros(3, 7, dtype=torch.bool)
        assert_close(two_way_transformer(transformer, image, pe, points, no_padding), expected)


@pytest.mark.parametrize("fast_attention", [True, False])
def test_padding_tokens_do_not_change_the_real_tokens_or_the_image(fast_attention):
    torch.manual_seed(0)
    core = samprompt.build_sam("micro", fast_attention=fast_attention)
    transformer = core.sam.mask_decoder.transformer
    lengths = [2, 5, 1]
    (image, pe, points, padding), alone = ragged_batch(core, lengths)
    with torch.no_grad():
        queries, keys = two_way_transformer(transformer, image, pe, points, padding)
        unmasked_queries, _ = two_way_transformer(transformer, image, pe, points)
        for row, (n, inputs) in enumerate(zip(lengths, alone)):
            row_queries, row_keys = transformer(*inputs)
            assert_close((queries[row:row + 1, :n], keys[row:row + 1]), (row_queries, row_keys))
            # The garbage tokens would matter without the mask: the test can tell.
            assert not torch.allclose(unmasked_queries[row:row + 1, :n], row_queries, atol=1e-3)


def test_threads_with_and_without_padding_share_one_transformer(core):
    transformer = core.sam.mask_decoder.transformer
    (image, pe, points, padding), _ = ragged_batch(core, [1, 3], seed=1)
    plain_inputs = random_inputs(core, 2, 5, seed=2)
    with torch.no_grad():
        padded_reference = two_way_transformer(transformer, image, pe, points, padding)
        plain_reference = two_way_transformer(transformer, *plain_inputs)
    failures: list[str] = []
    start = threading.Barrier(2)

    def run(name: str, call, reference) -> None:
        start.wait()
        with torch.no_grad():
            for i in range(200):
                result = call()
                if not all(torch.allclose(a, e, atol=1e-5) for a, e in zip(result, reference)):
                    failures.append(f"{name} differs at iteration {i}")
                    return

    threads = [
        threading.Thread(target=run, args=(
            "padded", lambda: two_way_transformer(transformer, image, pe, points, padding), padded_reference)),
        threading.Thread(target=run, args=(
            "plain", lambda: two_way_transformer(transformer, *plain_inputs), plain_reference)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_gradients_flow_and_match_segment_anything():
    torch.manual_seed(0)
    core = samprompt.build_sam("micro", frozen=False)
    transformer = core.sam.mask_decoder.transformer
    parameters = [p for p in transformer.parameters()]
    assert parameters and all(p.requires_grad for p in parameters)
    image, pe, points = random_inputs(core, 2, 4)
    target = torch.randn(2, 4 + SIDE * SIDE, transformer.embedding_dim)

    def gradients(forward) -> list[torch.Tensor]:
        queries, keys = forward(image, pe, points)
        loss = (torch.cat([queries, keys], 1) * target).sum()
        return list(torch.autograd.grad(loss, parameters))

    expected = gradients(transformer)
    actual = gradients(lambda *a: two_way_transformer(transformer, *a))
    assert all(g.abs().sum() > 0 for g in actual)
    assert_close(tuple(actual), tuple(expected))


def test_gradients_with_padding_skip_the_padding_tokens(core):
    transformer = core.sam.mask_decoder.transformer
    (image, pe, points, padding), _ = ragged_batch(core, [2, 3])
    points = points.clone().requires_grad_(True)
    queries, keys = two_way_transformer(transformer, image, pe, points, padding)
    real = (~padding).float()[..., None]
    ((queries * real).sum() + keys.sum()).backward()
    assert points.grad[~padding].abs().sum() > 0
    assert torch.equal(points.grad[padding], torch.zeros_like(points.grad[padding]))


@pytest.mark.slow  # inductor compiling cold: 24-55 s on a 2-core CPU (about 7 s with its cache warm)
def test_torch_compile_with_padding(core):
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("torch.compile's inductor backend needs a C++ compiler on CPU; none found")
    transformer = core.sam.mask_decoder.transformer
    (image, pe, points, padding), _ = ragged_batch(core, [1, 4])

    def decode(image, pe, points, padding):
        return two_way_transformer(transformer, image, pe, points, padding)

    torch._dynamo.reset()
    compiled = torch.compile(decode, fullgraph=True)
    with torch.no_grad():
        expected = decode(image, pe, points, padding)
        started = time.perf_counter()
        actual = compiled(image, pe, points, padding)
        print(f"compile + first call: {time.perf_counter() - started:.1f} s")
        assert_close(actual, expected, atol=1e-4)
        no_padding = torch.zeros_like(padding)
        assert_close(compiled(image, pe, points, no_padding), decode(image, pe, points, no_padding), atol=1e-4)


@pytest.mark.slow  # inductor compiling cold on a 2-core CPU: see the test above
def test_torch_compile_of_the_core_decode_path_with_ragged_prompts(core, image):
    """The whole decode path (prompt rows of different lengths, masked) compiles and agrees with eager."""
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("torch.compile's inductor backend needs a C++ compiler on CPU; none found")
    from samprompt import NativePrompts

    features = core.encode([image])
    points = torch.tensor([[[10.0, 10.0], [30.0, 20.0], [0.0, 0.0]], [[25.0, 30.0], [5.0, 40.0], [20.0, 8.0]]])
    labels = torch.tensor([[1, 0, -1], [1, 1, 0]])
    padding = torch.tensor([[False, False, True], [False, False, False]])
    prompts = NativePrompts()(core, features, points=points, labels=labels, point_padding=padding)
    torch._dynamo.reset()
    compiled = torch.compile(core.decode)
    with torch.no_grad():
        expected = core.decode(features, prompts, multimask_output=True)
        actual = compiled(features, prompts, multimask_output=True)
    torch.testing.assert_close(actual.low_res_logits, expected.low_res_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(actual.iou_predictions, expected.iou_predictions, atol=1e-4, rtol=1e-4)
    for compiled_logits, eager_logits in zip(actual.logits, expected.logits):  # upscaled to the image
        torch.testing.assert_close(compiled_logits, eager_logits, atol=1e-4, rtol=1e-4)
