import copy

import pytest
import torch
import torch.nn.functional as F

from avalanche_featadapt import DistillationRegularizer, make_digits_model
from avalanche_featadapt.plugins.distillation import grad_cam


def test_kd_and_feature_terms_are_zero_when_teacher_equals_student():
    reg = DistillationRegularizer(temperature=3.0)
    reg.old_classes = [0, 3, 5]
    logits = torch.randn(8, 10)
    feats = torch.randn(8, 64)
    assert reg.kd_loss(logits, logits.clone()).abs().item() < 1e-6
    assert reg.feature_loss(feats, feats.clone()).abs().item() < 1e-6
    # and positive when they differ
    assert reg.kd_loss(logits, torch.randn(8, 10)).item() > 1e-3
    assert reg.feature_loss(feats, torch.randn(8, 64)).item() > 1e-3


def test_kd_matches_hand_formula_on_old_classes():
    reg = DistillationRegularizer(temperature=2.0)
    reg.old_classes = [1, 2]
    s = torch.tensor([[0.0, 1.0, 3.0, 9.0]])
    t = torch.tensor([[5.0, 2.0, 2.0, -9.0]])
    p = torch.softmax(t[:, [1, 2]] / 2, 1)  # (0.5, 0.5)
    log_q = torch.log_softmax(s[:, [1, 2]] / 2, 1)
    expected = (p * (p.log() - log_q)).sum() * 4
    assert torch.allclose(reg.kd_loss(s, t), expected)


def test_attention_term_zero_for_identical_models_and_grad_flows():
    torch.manual_seed(0)
    student = make_digits_model()
    student.classifier.active_units[:] = 1
    teacher = copy.deepcopy(student).eval()
    student.eval()
    reg = DistillationRegularizer(
        lambda_at=1.0, attention_layer="feature_extractor.body.7"
    )
    reg.old_classes = [0, 1]
    x = torch.rand(4, 1, 8, 8)
    acts = {}
    h1 = student.feature_extractor.body[7].register_forward_hook(
        lambda m, i, o: acts.__setitem__("s", o)
    )
    h2 = teacher.feature_extractor.body[7].register_forward_hook(
        lambda m, i, o: acts.__setitem__("t", o.detach().requires_grad_(True))
        or acts["t"]
    )
    s_logits = student(x)
    with torch.enable_grad():
        t_logits = teacher(x)
    loss = reg.attention_loss(acts["s"], s_logits, acts["t"], t_logits)
    assert loss.item() < 1e-5
    h1.remove(), h2.remove()


def test_grad_cam_is_normalised():
    a = torch.rand(3, 5, 4, 4, requires_grad=True)
    score = (a * torch.rand(5, 1, 1)).sum()
    cam = grad_cam(a, score, create_graph=False)
    assert cam.shape == (3, 16)
    assert torch.allclose(cam.norm(dim=1), torch.ones(3))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lambda_kd": -1}, "lambda_kd must be a number >= 0"),
        ({"temperature": 0}, "temperature must be a positive number"),
        ({"lambda_at": 1.0}, "needs attention_layer="),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DistillationRegularizer(**kwargs)
