import keras
import numpy as np
import pytest
from keras import ops
from PIL import Image, ImageEnhance, ImageOps

from keras_regkit import testing
from keras_regkit.layers import AutoAugment
from keras_regkit.layers.augmentation.auto_augment import magnitude_to_argument
from tests.layers.augmentation.layer_zoo import BATCH, run_harness

# The sub-policies of Cubuk et al., "AutoAugment: Learning Augmentation Strategies
# from Data", CVPR 2019 (arXiv:1805.09501v3, appendix): "Operation 1, probability,
# magnitude, Operation 2, probability, magnitude" per row, typed from the paper's
# tables (ImageNet, CIFAR-10 and reduced SVHN). Cross-checked against
# torchvision/transforms/autoaugment.py and DeepVoltaire/AutoAugment.
PAPER_TABLES = {
    "imagenet": """
        Posterize 0.4 8 Rotate 0.6 9
        Solarize 0.6 5 AutoContrast 0.6 5
        Equalize 0.8 8 Equalize 0.6 3
        Posterize 0.6 7 Posterize 0.6 6
        Equalize 0.4 7 Solarize 0.2 4
        Equalize 0.4 4 Rotate 0.8 8
        Solarize 0.6 3 Equalize 0.6 7
        Posterize 0.8 5 Equalize 1.0 2
        Rotate 0.2 3 Solarize 0.6 8
        Equalize 0.6 8 Posterize 0.4 6
        Rotate 0.8 8 Color 0.4 0
        Rotate 0.4 9 Equalize 0.6 2
        Equalize 0.0 7 Equalize 0.8 8
        Invert 0.6 4 Equalize 1.0 8
        Color 0.6 4 Contrast 1.0 8
        Rotate 0.8 8 Color 1.0 2
        Color 0.8 8 Solarize 0.8 7
        Sharpness 0.4 7 Invert 0.6 8
        ShearX 0.6 5 Equalize 1.0 9
        Color 0.4 0 Equalize 0.6 3
        Equalize 0.4 7 Solarize 0.2 4
        Solarize 0.6 5 AutoContrast 0.6 5
        Invert 0.6 4 Equalize 1.0 8
        Color 0.6 4 Contrast 1.0 8
        Equalize 0.8 8 Equalize 0.6 3
    """,
    "cifar10": """
        Invert 0.1 7 Contrast 0.2 6
        Rotate 0.7 2 TranslateX 0.3 9
        Sharpness 0.8 1 Sharpness 0.9 3
        ShearY 0.5 8 TranslateY 0.7 9
        AutoContrast 0.5 8 Equalize 0.9 2
        ShearY 0.2 7 Posterize 0.3 7
        Color 0.4 3 Brightness 0.6 7
        Sharpness 0.3 9 Brightness 0.7 9
        Equalize 0.6 5 Equalize 0.5 1
        Contrast 0.6 7 Sharpness 0.6 5
        Color 0.7 7 TranslateX 0.5 8
        Equalize 0.3 7 AutoContrast 0.4 8
        TranslateY 0.4 3 Sharpness 0.2 6
        Brightness 0.9 6 Color 0.2 8
        Solarize 0.5 2 Invert 0.0 3
        Equalize 0.2 0 AutoContrast 0.6 0
        Equalize 0.2 8 Equalize 0.6 4
        Color 0.9 9 Equalize 0.6 6
        AutoContrast 0.8 4 Solarize 0.2 8
        Brightness 0.1 3 Color 0.7 0
        Solarize 0.4 5 AutoContrast 0.9 3
        TranslateY 0.9 9 TranslateY 0.7 9
        AutoContrast 0.9 2 Solarize 0.8 3
        Equalize 0.8 8 Invert 0.1 3
        TranslateY 0.7 9 AutoContrast 0.9 1
    """,
    "svhn": """
        ShearX 0.9 4 Invert 0.2 3
        ShearY 0.9 8 Invert 0.7 5
        Equalize 0.6 5 Solarize 0.6 6
        Invert 0.9 3 Equalize 0.6 3
        Equalize 0.6 1 Rotate 0.9 3
        ShearX 0.9 4 AutoContrast 0.8 3
        ShearY 0.9 8 Invert 0.4 5
        ShearY 0.9 5 Solarize 0.2 6
        Invert 0.9 6 AutoContrast 0.8 1
        Equalize 0.6 3 Rotate 0.9 3
        ShearX 0.9 4 Solarize 0.3 3
        ShearY 0.8 8 Invert 0.7 4
        Equalize 0.9 5 TranslateY 0.6 6
        Invert 0.9 4 Equalize 0.6 7
        Contrast 0.3 3 Rotate 0.8 4
        Invert 0.8 5 TranslateY 0.0 2
        ShearY 0.7 6 Solarize 0.4 8
        Invert 0.6 4 Rotate 0.8 4
        ShearY 0.3 7 TranslateX 0.9 3
        ShearX 0.1 6 Invert 0.6 5
        Solarize 0.7 2 TranslateY 0.6 7
        ShearY 0.8 4 Invert 0.8 8
        ShearX 0.7 9 TranslateY 0.8 3
        ShearY 0.8 5 AutoContrast 0.7 3
        ShearX 0.7 2 Invert 0.1 5
    """,
}

FILL = (128, 128, 128)
GEOMETRIC = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}
EXACT = GEOMETRIC | {"Invert", "Equalize", "Solarize", "Posterize"}


def parse_table(text):
    rows = []
    for line in text.strip().splitlines():
        f = line.split()
        rows.append(((f[0], float(f[1]), int(f[2])), (f[3], float(f[4]), int(f[5]))))
    return tuple(rows)


def images(n=3, size=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, 3)).astype("uint8")
    x[-1] = x[-1] // 4 + 60  # a low-contrast image for AutoContrast / Equalize
    return x


def pil_op(image, name, level, sign):
    """The paper's operations with PIL, at level/10 of the paper's ranges."""
    im = Image.fromarray(image)
    f = level / 10
    w, h = im.size
    affine = {
        "ShearX": (1, sign * 0.3 * f, 0, 0, 1, 0),
        "ShearY": (1, 0, 0, sign * 0.3 * f, 1, 0),
        "TranslateX": (1, 0, sign * 150 / 331 * f * w, 0, 1, 0),
        "TranslateY": (1, 0, 0, 0, 1, sign * 150 / 331 * f * h),
    }
    if name in affine:
        out = im.transform(im.size, Image.AFFINE, affine[name], fillcolor=FILL)
    elif name == "Rotate":
        out = im.rotate(sign * 30 * f, fillcolor=FILL)
    elif name == "AutoContrast":
        out = ImageOps.autocontrast(im)
    elif name == "Invert":
        out = ImageOps.invert(im)
    elif name == "Equalize":
        out = ImageOps.equalize(im)
    elif name == "Solarize":
        out = ImageOps.solarize(im, 256 - 256 * f)
    elif name == "Posterize":
        out = ImageOps.posterize(im, 8 - int(4 * f))
    else:
        enhancer = {
            "Color": ImageEnhance.Color,
            "Contrast": ImageEnhance.Contrast,
            "Brightness": ImageEnhance.Brightness,
            "Sharpness": ImageEnhance.Sharpness,
        }[name]
        out = enhancer(im).enhance(0.1 + 1.8 * f)
    return np.asarray(out)


def occurrences():
    """(operation, policy, sub-policy index, stage) of each operation's first use."""
    found = {}
    for policy, table in PAPER_TABLES.items():
        for index, sub_policy in enumerate(parse_table(table)):
            for stage, (name, _, _) in enumerate(sub_policy):
                found.setdefault(name, (policy, index, stage))
    return sorted((name,) + where for name, where in found.items())


def assert_same_pixels(out, ref, geometric, err_msg=""):
    """Equal, except geometric operations may round a pixel at an exact tie.

    PIL maps coordinates in float64, the layer in float32: where a source
    coordinate lands exactly on a pixel boundary (e.g. a 0.12 shear at row 12:
    0.12 * 12.5 = 1.5) nearest-neighbour sampling can pick either side.
    """
    if not geometric:
        np.testing.assert_array_equal(out, ref, err_msg=err_msg)
        return
    mismatched = np.any(out != ref, axis=-1)
    assert mismatched.mean() <= 2 / out.shape[-2], (err_msg, mismatched.mean())


def forced(sub_policy, stages, sign, n):
    return {
        "sub_policy": np.full((n,), sub_policy, "int32"),
        "apply": np.tile(np.array([[0 in stages, 1 in stages]]), (n, 1)),
        "sign": np.full((n, 2), sign, "float32"),
    }


def test_policy_tables_and_magnitudes_match_the_paper():
    for policy, table in PAPER_TABLES.items():
        layer = AutoAugment(policy=policy)
        assert layer.sub_policies == parse_table(table), policy
        assert len(layer.sub_policies) == 25
    # Level 10 reaches the end of each range of the paper's Table 1.
    assert magnitude_to_argument("ShearX", 10) == pytest.approx(0.3)
    assert magnitude_to_argument("TranslateY", 10, 331) == pytest.approx(150)
    assert magnitude_to_argument("Rotate", 10) == pytest.approx(30)
    assert (
        magnitude_to_argument("Solarize", 0) == 256 and magnitude_to_argument("Solarize", 10) == 0
    )
    posterize = [
        float(ops.convert_to_numpy(magnitude_to_argument("Posterize", m))) for m in (0, 10)
    ]
    assert posterize == [8, 4]
    assert magnitude_to_argument("Color", 0) == pytest.approx(0.1)
    assert magnitude_to_argument("Sharpness", 10) == pytest.approx(1.9)


def test_each_operation_matches_pil():
    x = images()
    operations = occurrences()
    assert len(operations) == 14  # every operation the three policies use
    for name, policy, index, stage in operations:
        check_operation(x, name, policy, index, stage)


def check_operation(x, name, policy, index, stage):
    layer = AutoAugment(policy=policy)
    level = layer.sub_policies[index][stage][2]
    signs = (1.0, -1.0) if name in GEOMETRIC else (1.0,)
    for sign in signs:
        out = layer.transform_images(x.astype("float32"), forced(index, (stage,), sign, len(x)))
        out = ops.convert_to_numpy(out)
        ref = np.stack([pil_op(image, name, level, sign) for image in x]).astype("float32")
        error = np.abs(out - ref)
        if name in EXACT:
            assert_same_pixels(out, ref, name in GEOMETRIC, f"{name} sign={sign}")
        else:
            # PIL rounds to uint8 and its grayscale uses integer weights; we stay in float.
            assert error.max() <= 1.5, (name, error.max())
            assert error.mean() < 0.5, (name, error.mean())


def test_sub_policy_is_two_operations_in_order():
    """svhn sub-policies with exact operations, both applied: PIL composition, per image."""
    layer = AutoAugment(policy="svhn")
    exact = [
        i
        for i, sub_policy in enumerate(layer.sub_policies)
        if all(op in EXACT for op, _, _ in sub_policy)
    ]
    x = images(n=len(exact), seed=1)
    rng = np.random.default_rng(2)
    signs = rng.choice([-1.0, 1.0], size=(len(exact), 2)).astype("float32")
    transformation = {
        "sub_policy": np.array(exact, "int32"),
        "apply": np.ones((len(exact), 2), bool),
        "sign": signs,
    }
    out = ops.convert_to_numpy(layer.transform_images(x.astype("float32"), transformation))
    for i, index in enumerate(exact):
        (op1, _, m1), (op2, _, m2) = layer.sub_policies[index]
        ref = pil_op(pil_op(x[i], op1, m1, signs[i, 0]), op2, m2, signs[i, 1])
        geometric = {op1, op2} & GEOMETRIC
        assert_same_pixels(out[i], ref, bool(geometric), str(layer.sub_policies[index]))


def test_random_draws_follow_the_policy():
    layer = AutoAugment(policy="cifar10", seed=0)
    n = 5000
    t = layer.get_random_transformation(np.zeros((n, 2, 2, 3), "float32"))
    sub_policy = ops.convert_to_numpy(t["sub_policy"])
    apply = ops.convert_to_numpy(t["apply"])
    sign = ops.convert_to_numpy(t["sign"])
    counts = np.bincount(sub_policy, minlength=25)
    assert counts.min() > n / 25 * 0.7 and counts.max() < n / 25 * 1.3
    probabilities = np.array([[p for _, p, _ in sp] for sp in layer.sub_policies])
    expected = probabilities[sub_policy]
    # Each op is applied with its probability (binomial tolerance over ~200 draws).
    for index in range(25):
        rows = sub_policy == index
        np.testing.assert_allclose(
            apply[rows].mean(0), probabilities[index], atol=4 * 0.5 / np.sqrt(rows.sum())
        )
    assert not apply[expected == 0].any() and apply[expected == 1].all()
    assert set(np.unique(sign)) == {-1.0, 1.0}


def test_value_range_fill_value_and_grayscale():
    x = images().astype("float32")
    a = AutoAugment(policy="svhn", seed=3)
    t = a.get_random_transformation(x)
    # Rotate (sub-policy 4, stage 1) uncovers corners, filled with fill_value.
    t["sub_policy"] = ops.convert_to_tensor(np.array([4, 4, 7], "int32"))
    t["apply"] = ops.convert_to_tensor(np.array([[False, True]] * 3))
    b = AutoAugment(policy="svhn", value_range=(0, 1), fill_value=0.25)
    out_a = ops.convert_to_numpy(a.transform_images(x, t))
    out_b = ops.convert_to_numpy(b.transform_images(x / 255.0, t))
    filled = out_b == 0.25  # inputs are integers / 255: only the fill is 0.25
    assert filled[:2, 0, 0].all() and not filled[2].any()
    assert np.all(out_a[filled] == 128.0)  # the default fill: mid-gray
    testing.assert_allclose(out_b[~filled], out_a[~filled] / 255.0, atol=1e-5)
    # One channel: Contrast blends with the mean of the image itself (PIL mode "L").
    gray = x[..., :1]
    out = b.transform_images(gray / 255.0, forced(14, (0,), 1.0, len(x)))
    ref = np.stack(
        [
            np.asarray(ImageEnhance.Contrast(Image.fromarray(i[..., 0])).enhance(0.1 + 0.18 * 3))
            for i in gray.astype("uint8")
        ]
    )
    testing.assert_allclose(ops.convert_to_numpy(out)[..., 0] * 255.0, ref, atol=1.0)
    with pytest.raises(ValueError, match="3 channels"):
        a(np.zeros((2, 8, 8, 4), "float32"))
    with pytest.raises(ValueError, match="3 channels"):
        AutoAugment(data_format="channels_first")(np.zeros((2, 8, 8, 3), "float32"))


def test_segmentation_masks_follow_geometric_operations_only():
    masks = np.random.default_rng(3).integers(0, 5, (3, 16, 16, 1)).astype("int32")
    layer = AutoAugment(policy="imagenet")
    # Sub-policy 17: Sharpness then Invert: pixels change, masks do not.
    t = forced(17, (0, 1), 1.0, 3)
    out = layer.transform_segmentation_masks(masks, t)
    assert keras.backend.standardize_dtype(out.dtype) == "int32"
    np.testing.assert_array_equal(ops.convert_to_numpy(out), masks)
    # Sub-policy 0 stage 1: Rotate 27 degrees: masks turn like a nearest-neighbour image.
    t = forced(0, (1,), 1.0, 3)
    out = ops.convert_to_numpy(layer.transform_segmentation_masks(masks, t))
    ref = [np.asarray(Image.fromarray(m[..., 0].astype("uint8")).rotate(27)) for m in masks]
    np.testing.assert_array_equal(out[..., 0], np.stack(ref))


def test_harness():
    run_harness(AutoAugment, BATCH)


def test_invalid_arguments():
    cases = [
        ({"policy": "reduced_imagenet"}, "policy"),
        ({"value_range": (255, 0)}, "value_range"),
        ({"value_range": 255}, "value_range"),
        ({"interpolation": "bicubic"}, "interpolation"),
        ({"fill_value": "gray"}, "fill_value"),
    ]
    for kwargs, argument in cases:
        with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
            AutoAugment(**kwargs)
