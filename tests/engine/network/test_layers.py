"""The papers' equations on hand-made tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.network.models.layers import (
    LALM,
    AttentionalLocalization,
    GeM,
    SelectiveKernel,
    clipped_normal_mean,
    convex_weights,
    gem,
    minmax_norm,
)


def _al_with_identity_conv(thresholds=(0.25, 0.5), **kw) -> AttentionalLocalization:
    """One-channel attentional localization whose 1x1 conv is the identity."""
    al = AttentionalLocalization(1, thresholds=thresholds, **kw)
    with torch.no_grad():
        al.conv.weight.fill_(1.0)
        al.conv.bias.zero_()
    return al


def test_attention_is_minmax_of_softplus_of_conv():
    al = _al_with_identity_conv()
    f = torch.tensor([[[[-2.0, 0.0], [1.0, 3.0]]]])  # (B=1, C=1, 2, 2)
    sp = F.softplus(f[0, 0])
    expected = (sp - sp.min()) / (sp.max() - sp.min())
    with torch.no_grad():
        a = al.attention(f)
    assert a.shape == (1, 2, 2)
    assert torch.allclose(a[0], expected, atol=1e-6)
    assert float(a.min()) == 0.0 and float(a.max()) == pytest.approx(1.0)


def test_masks_and_fused_output_match_eqs_2_to_5_in_eval_mode():
    al = _al_with_identity_conv(thresholds=(0.25, 0.5), beta_eval=0.2).eval()
    with torch.no_grad():
        al.alpha.copy_(torch.tensor([0.0, 1.0]))  # w = softplus(α) = (ln 2, ln(1+e))
    a = torch.tensor([[[0.0, 0.3], [0.6, 1.0]]])
    m = al.masks(a)
    assert m.shape == (2, 1, 2, 2)
    assert torch.equal(m[0, 0], torch.tensor([[0.2, 1.0], [1.0, 1.0]]))  # τ = 0.25
    assert torch.equal(m[1, 0], torch.tensor([[0.2, 0.2], [1.0, 1.0]]))  # τ = 0.5

    # a hand-made F whose attention is exactly `a`: invert softplus of an affine map of a
    target = a * 2.0 + 0.5  # softplus values with min 0.5, max 2.5 → min-max gives back a
    f = torch.log(torch.expm1(target)).unsqueeze(1)  # (1, 1, 2, 2)
    assert torch.allclose(al.attention(f), a, atol=1e-5)
    fused, att = al(f)
    w1, w2 = math.log(2.0), math.log1p(math.e)
    expected = (w1 * m[0, 0] * f[0, 0] + w2 * m[1, 0] * f[0, 0]) / (w1 + w2)
    assert torch.allclose(fused[0, 0], expected, atol=1e-5)
    assert torch.allclose(att, a, atol=1e-5)


def test_beta_is_random_in_training_and_fixed_in_eval():
    al = _al_with_identity_conv(thresholds=(0.5,), beta_mean=0.1, beta_std=0.9)
    a = torch.zeros(2, 16, 16)  # every position below τ → every value is β
    al.train()
    m1, m2 = al.masks(a), al.masks(a)
    assert not torch.equal(m1, m2)  # drawn anew each call
    assert float(m1.min()) >= 0.0 and float(m1.max()) <= 1.0  # clipped to [0, 1]
    assert len(torch.unique(m1)) > 10  # drawn per position
    assert (m1 == 0).any() and (m1 == 1).any()  # N(0.1, 0.9) is clipped at both ends
    al.eval()
    e1, e2 = al.masks(a), al.masks(a)
    assert torch.equal(e1, e2)
    assert torch.allclose(e1, torch.full_like(e1, al.beta_eval))


def test_default_beta_eval_is_the_mean_of_the_clipped_training_distribution():
    torch.manual_seed(0)
    draws = (torch.randn(2_000_000) * 0.9 + 0.1).clamp(0, 1)
    assert clipped_normal_mean(0.1, 0.9) == pytest.approx(float(draws.mean()), abs=2e-3)
    assert AttentionalLocalization(4).beta_eval == pytest.approx(clipped_normal_mean(0.1, 0.9))


def test_hard_mask_passes_a_gradient_to_the_attention_conv():
    al = _al_with_identity_conv(thresholds=(0.5,)).eval()
    f = torch.randn(1, 1, 4, 4, requires_grad=True)
    fused, _ = al(f)
    fused.sum().backward()
    assert al.conv.weight.grad is not None and float(al.conv.weight.grad.abs()) > 0


def test_gem_function_and_module():
    x = torch.rand(2, 3, 4, 5) + 0.1
    assert torch.allclose(gem(x, 1.0), x.mean(dim=(2, 3)), atol=1e-6)
    big = gem(x, 200.0)
    assert torch.allclose(big, x.amax(dim=(2, 3)), rtol=0.05)  # p → ∞ tends to max pooling
    manual = x.pow(3).mean(dim=(2, 3)).pow(1 / 3)
    assert torch.allclose(GeM(3.0)(x), manual, atol=1e-6)
    assert "p=3.0000" in repr(GeM(3.0))
    assert isinstance(GeM(3.0, learnable=False).p, torch.Tensor)
    assert not any(True for _ in GeM(3.0, learnable=False).parameters())


def test_minmax_and_convex_weights():
    a = torch.tensor([[[2.0, 4.0], [6.0, 10.0]]])
    assert torch.allclose(minmax_norm(a), torch.tensor([[[0.0, 0.25], [0.5, 1.0]]]))
    w = convex_weights(torch.tensor([0.0, 1.0, -3.0]))
    assert float(w.sum()) == pytest.approx(1.0) and (w > 0).all()


def test_selective_kernel_first_sum_is_a_learnable_convex_fusion():
    torch.manual_seed(0)
    sk = SelectiveKernel(64, branches=2, groups=8).eval()
    x = torch.randn(2, 64, 5, 5)
    captured = {}
    orig = sk.squeeze.forward

    def spy(s):
        captured["s"] = s
        return orig(s)

    sk.squeeze.forward = spy
    with torch.no_grad():
        sk.alpha.copy_(torch.tensor([2.0, -1.0]))
        out = sk(x)
        u = [b(x) for b in sk.branches]
        w = F.softplus(torch.tensor([2.0, -1.0]))
        fused = (w[0] * u[0] + w[1] * u[1]) / w.sum()
    assert torch.allclose(captured["s"], fused.mean(dim=(2, 3)), atol=1e-5)
    assert out.shape == x.shape
    assert sk.branches[1][0].dilation == (2, 2)  # the 5x5-receptive-field branch


def test_lalm_output_is_attention_times_input():
    torch.manual_seed(0)
    m = LALM(32, reduce_dim=16, inner_dim=8).eval()
    x = torch.randn(1, 32, 4, 4)
    with torch.no_grad():
        d, g = m(x)
    assert torch.allclose(d, g * x)
    assert (g > 0).all()  # softplus
