"""Backbone regularisation while learning new classes: logit KD on the old
classes, cosine feature distillation and (optionally) attention distillation."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from avalanche.training.plugins import SupervisedPlugin
from torch import nn

from ..features import feature_extractor_of, release_caches, teacher_of
from ..validation.arguments import check_non_negative, check_positive
from ..validation.inputs import experience_classes

__all__ = ["DistillationRegularizer"]


class _Capture:
    """Keeps the last output of a module (a forward hook)."""

    def __init__(self, module: nn.Module, make_leaf: bool = False):
        self.out = None
        self.make_leaf = make_leaf
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        if self.make_leaf:  # a teacher's map needs a gradient for Grad-CAM
            output = output.detach().requires_grad_(True)
        self.out = output
        return output

    def remove(self):
        self.handle.remove()
        self.out = None


def grad_cam(activation, score, *, create_graph: bool) -> torch.Tensor:
    """L2-normalised, flattened Grad-CAM maps (Selvaraju et al., ICCV 2017):
    ``ReLU(sum_k mean_ij(d score / d A_k) * A_k)`` for a (B, K, H, W)
    activation and a scalar score summed over the batch."""
    (grads,) = torch.autograd.grad(score, activation, create_graph=create_graph)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation).sum(dim=1)).flatten(1)
    return F.normalize(cam, dim=1)


class DistillationRegularizer(SupervisedPlugin, supports_distributed=True):
    """The backbone loss of feature adaptation (Iscen et al., ECCV 2020, Sec.
    3.1; docs/method.md, step 1), added to the strategy's loss from the second
    experience on, with the model before the experience as a frozen teacher
    in eval mode:

    - ``lambda_kd * T^2 * KL(softmax(z_old / T) || softmax(z / T))`` on the
      logits of the classes seen before (Li & Hoiem, "Learning without
      Forgetting", 2016; Hinton et al., 2015);
    - ``lambda_fd * (1 - cos(h_t(x), h_{t-1}(x)))`` on the backbone output
      (the "less-forget" constraint of Hou et al., CVPR 2019);
    - ``lambda_at * || Q_t / ||Q_t|| - Q_{t-1} / ||Q_{t-1}|| ||_1``, attention
      distillation (Dhar et al., "Learning without Memorizing", CVPR 2019):
      Q are the flattened Grad-CAM maps at ``attention_layer`` for the
      teacher's top old class. Off by default.

    :param lambda_kd: weight of the logit distillation.
    :param temperature: the distillation temperature T.
    :param lambda_fd: weight of the cosine feature distillation; needs a model
        with a ``feature_extractor`` or ``feature_extractor=``.
    :param lambda_at: weight of the attention distillation.
    :param attention_layer: name of a ``Conv2d`` in ``strategy.model`` (e.g.
        ``"feature_extractor.body.7"``), required when ``lambda_at > 0``.
    :param feature_extractor: the backbone whose output is distilled.
    """

    def __init__(
        self,
        *,
        lambda_kd: float = 1.0,
        temperature: float = 2.0,
        lambda_fd: float = 1.0,
        lambda_at: float = 0.0,
        attention_layer: Optional[str] = None,
        feature_extractor: Optional[nn.Module] = None,
    ):
        super().__init__()
        check_non_negative("lambda_kd", lambda_kd)
        check_positive("temperature", temperature)
        check_non_negative("lambda_fd", lambda_fd)
        check_non_negative("lambda_at", lambda_at)
        if lambda_at > 0 and not isinstance(attention_layer, str):
            raise ValueError(
                "lambda_at > 0 needs attention_layer= naming a Conv2d layer of the "
                "model, e.g. attention_layer='feature_extractor.body.7'."
            )
        self.lambda_kd = lambda_kd
        self.temperature = temperature
        self.lambda_fd = lambda_fd
        self.lambda_at = lambda_at
        self.attention_layer = attention_layer
        self.feature_extractor = feature_extractor
        self.seen_classes: list = []
        self.old_classes: list = []
        self.teacher: Optional[nn.Module] = None
        self.last_terms: dict = {}
        self._hooks: dict = {}

    # ------------------------------------------------------------ losses
    def kd_loss(self, student_logits, teacher_logits) -> torch.Tensor:
        """T^2 * KL(p_teacher || p_student) on the old classes' logits."""
        old = self.old_classes
        t = self.temperature
        log_p = F.log_softmax(student_logits[:, old] / t, dim=1)
        q = F.softmax(teacher_logits[:, old] / t, dim=1)
        return F.kl_div(log_p, q, reduction="batchmean") * t * t

    @staticmethod
    def feature_loss(student_feats, teacher_feats) -> torch.Tensor:
        """mean(1 - cos(h_t(x), h_{t-1}(x)))."""
        return (1 - F.cosine_similarity(student_feats, teacher_feats, dim=1)).mean()

    def attention_loss(self, s_act, s_logits, t_act, t_logits) -> torch.Tensor:
        """L1 distance of the normalised Grad-CAM maps, teacher's top old class."""
        old = torch.as_tensor(self.old_classes, device=t_logits.device)
        top = old[t_logits[:, old].argmax(1)]
        with torch.enable_grad():
            q_t = grad_cam(
                t_act, t_logits.gather(1, top[:, None]).sum(), create_graph=False
            )
        q_s = grad_cam(s_act, s_logits.gather(1, top[:, None]).sum(), create_graph=True)
        return (q_s - q_t.detach()).abs().sum(1).mean()

    # ------------------------------------------------------------ plugin
    def before_training_exp(self, strategy, **kwargs):
        self.old_classes = list(self.seen_classes)
        if not self.old_classes:
            self.teacher = None
            return
        model = strategy.model
        self.teacher = teacher_of(strategy, model)
        self._remove_hooks()
        if self.lambda_fd > 0:
            fe = feature_extractor_of(strategy, self.feature_extractor)
            self._hooks["s_feat"] = _Capture(fe)
            self._hooks["t_feat"] = _Capture(teacher_of(strategy, fe))
        if self.lambda_at > 0:
            layer = self._conv_layer(model, self.attention_layer)
            self._hooks["s_act"] = _Capture(layer)
            self._hooks["t_act"] = _Capture(
                self._conv_layer(self.teacher, self.attention_layer), make_leaf=True
            )

    @staticmethod
    def _conv_layer(model, name):
        try:
            layer = model.get_submodule(name)
        except AttributeError:
            layer = None
        if not isinstance(layer, nn.Conv2d):
            convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
            raise ValueError(
                f"attention_layer={name!r} is not a Conv2d of the model; "
                f"its Conv2d layers are: {convs or 'none (disable lambda_at)'}."
            )
        return layer

    def before_backward(self, strategy, **kwargs):
        if self.teacher is None:
            return
        x = strategy.mb_x
        grad_ctx = torch.enable_grad() if self.lambda_at > 0 else torch.no_grad()
        with grad_ctx:
            t_logits = self._teacher_logits(x)
        terms = {}
        if self.lambda_kd > 0:
            terms["kd"] = self.lambda_kd * self.kd_loss(
                strategy.mb_output, t_logits.detach()
            )
        if self.lambda_fd > 0:
            terms["fd"] = self.lambda_fd * self.feature_loss(
                self._hooks["s_feat"].out, self._hooks["t_feat"].out.detach()
            )
        if self.lambda_at > 0:
            terms["at"] = self.lambda_at * self.attention_loss(
                self._hooks["s_act"].out,
                strategy.mb_output,
                self._hooks["t_act"].out,
                t_logits,
            )
        for v in terms.values():
            strategy.loss = strategy.loss + v
        self.last_terms = {k: float(v.detach()) for k, v in terms.items()}

    def _teacher_logits(self, x):
        # A TrainEvalModel (Avalanche's ICaRL, SDCStrategy) answers with its
        # NCM classifier in eval mode; distil its training head instead.
        t = self.teacher
        if hasattr(t, "train_classifier") and hasattr(t, "feature_extractor"):
            return t.train_classifier(t.feature_extractor(x))
        return t(x)

    def after_training_exp(self, strategy, **kwargs):
        self._remove_hooks()
        self.teacher = None
        for c in experience_classes(strategy.experience):
            if c not in self.seen_classes:
                self.seen_classes.append(int(c))

    def after_training(self, strategy, **kwargs):
        release_caches(strategy)  # the shared teacher and features

    def _remove_hooks(self):
        for h in self._hooks.values():
            h.remove()
        self._hooks = {}

    def __getstate__(self):  # hooks are re-made at the next experience
        state = self.__dict__.copy()
        state["_hooks"] = {}
        return state
