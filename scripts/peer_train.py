"""The PyTorch eager peer of `tsal bench train`: the same supervised training step, timed the
same way, so the two can be compared on one machine.

tsal runs this with the project's Python (`--peer_python`) and writes a JSON spec on stdin:
the model (width_div, stages, num_pts, init), the batch (frames, size, labelled frames), the
loss settings (criterion, lossnorm), the optimiser (sgd | adam, lr, momentum, nesterov) and its
parameter groups (lr_mult, weight_decay, parameter names: the state_dict names both sides
share), the number of roles, iterations, warm-up iterations, threads, device and whether to
time each phase. It prints one JSON object on stdout: the torch version, threads, device and
`step` = {iters, seconds_per_iter (mean), frames_per_s, median_seconds_per_iter, phases}.

One step of one role, as `tsal::train::step::supervised_step`: forward in train mode, the stage
heatmap MSE + centre focal + offset smooth-L1 terms weighted 1 / 1 / 0.1 (the reference's
`basic_train_Rma_model`, `lib/procedure/basic_main.py`), the four values read back (one sync),
zero_grad (to None), backward, optimiser step. Every role steps on every batch. Initial weights
follow tsal's schemes (their statistics, not their values); inputs and targets are random, with
the shapes and value ranges of a real batch.
"""
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_detector import Detector  # noqa: E402

# Loss weights and constants of tsal's src/losses (the reference's lib/procedure/basic_main.py
# and lib/criterion.py).
HEATMAP_WEIGHT, CENTRE_FOCAL_WEIGHT, OFFSET_WEIGHT = 1.0, 1.0, 0.1
FOCAL_CLAMP = 1e-4
OFFSET_EPS = 1e-4
# tsal's src/models/layers.rs and centernet.rs (the reference's initialisation,
# lib/models/cpm_vgg16.py:23-31,342-395).
CONV_STD, DECONV_STD, OFFSET_HEAD_STD, HM_BIAS = 0.01, 0.001, 0.001, -2.19


def init_like_tsal(model, scheme):
    """tsal's initial weight distributions: `reference` = every convolution N(0, 0.01) with bias
    0, transposed convolutions N(0, 0.001), the offset head's last conv N(0, 0.001), the centre
    head's bias -2.19, BatchNorm 1 / 0; `he` additionally draws the other convolutions He normal
    N(0, sqrt(2 / fan_in))."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.ConvTranspose2d):
                m.weight.normal_(0.0, DECONV_STD)
            elif isinstance(m, nn.Conv2d):
                last_head = name in ("hm.2", "hmhp_offset.2")
                std = OFFSET_HEAD_STD if name == "hmhp_offset.2" else CONV_STD
                if scheme == "he" and not last_head:
                    fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
                    std = math.sqrt(2.0 / fan_in)
                m.weight.normal_(0.0, std)
                if m.bias is not None:
                    m.bias.fill_(HM_BIAS if name == "hm.2" else 0.0)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.fill_(0.0)


def stage_mse(stages, target, mask, labelled, criterion, lossnorm):
    """tsal's `losses::heatmap::stage_mse`: stages and target [N, C, H, W], mask [N, C]."""
    n, c, h, w = target.shape
    m = mask.view(n, c, 1, 1)
    total = None
    for s in stages:
        t = ((s - target).square() * m).sum()
        total = t if total is None else total + t
    if criterion == "mean":
        total = total / (mask.gt(0.0).sum() * (h * w)).clamp_min(1.0)
    if labelled == 0:
        return total * 0.0
    return total / (2 * labelled) if lossnorm else total


def centre_focal(logits, g, valid):
    """tsal's `losses::focal::centre_focal`: logits and g [N, 1, H, W], valid [N] bool."""
    v = valid.float().view(-1, 1, 1, 1)
    p = logits.sigmoid().clamp(FOCAL_CLAMP, 1.0 - FOCAL_CLAMP)
    pos = g.eq(1.0).float() * v
    neg = g.lt(1.0).float() * v
    q = 1.0 - p
    pos_term = (-p.log() * q.square() * pos).sum()
    neg_term = (-q.log() * p.square() * (1.0 - g).pow(4) * neg).sum()
    return (pos_term + neg_term) / pos.sum().clamp_min(1.0)


def offset_l1(offsets, ind, target, mask, valid):
    """tsal's `losses::offset::offset_l1`: offsets [N, 2P, H, W], ind [N] i64, target and mask
    [N, 2P], valid [N] bool."""
    n, two_p, h, w = offsets.shape
    v = valid.float()
    ind = ind * valid.long()
    idx = ind.view(n, 1, 1).expand(n, two_p, 1)
    pred = offsets.view(n, two_p, h * w).gather(2, idx)
    m = mask * v.unsqueeze(1)
    pred = pred.view(n, two_p) * m
    gt = target * m
    loss = torch.nn.functional.smooth_l1_loss(pred, gt, reduction="sum", beta=1.0)
    return loss / (m.sum() + OFFSET_EPS)


def bumps(n, c, g, sigma):
    """[n, c, g, g] Gaussian bumps of peak 1 and std `sigma` cells at random centres, values
    below the reference cut-off 0.01 (`lib/pts_utils/generation.py:14-59`) set to 0; and the
    centres' flat indices."""
    ind = torch.randint(0, g * g, (n, c))
    cy, cx = (ind // g).float(), (ind % g).float()
    r = torch.arange(g, dtype=torch.float32)
    d2 = (r.view(1, 1, g, 1) - cy.view(n, c, 1, 1)) ** 2 + (r.view(1, 1, 1, g) - cx.view(n, c, 1, 1)) ** 2
    h = torch.exp(-d2 / (2 * sigma * sigma))
    return h * (h >= 0.01), ind


def make_batch(spec, device):
    """Random inputs and targets with a real batch's shapes and value ranges: images
    [N, 3, S, S] ~ N(0, 1); heatmaps [N, P+1, S/8, S/8], one bump of σ 6 input pixels per
    landmark (the reference's `--sigma 6`) and the background 1 − their maximum, mask 1; a
    centre map [N, 1, S/8, S/8] with its peak of exactly 1 at `centre_ind`; offsets [N, 2P] in
    cells, mask 1; every frame valid."""
    n, s, p = spec["batch"]["frames"], spec["batch"]["size"], spec["model"]["num_pts"]
    g = s // 8
    marks, _ = bumps(n, p, g, 6.0 / 8)
    heatmaps = torch.cat([marks, 1.0 - marks.amax(1, keepdim=True)], 1)
    centre, ind = bumps(n, 1, g, 6.0 / 8)
    ind = ind.view(n)
    b = {
        "images": torch.randn(n, 3, s, s),
        "heatmaps": heatmaps,
        "heatmap_mask": torch.ones(n, p + 1),
        "centre": centre,
        "centre_ind": ind,
        "offsets": torch.randn(n, 2 * p) * 4.0,
        "offset_mask": torch.ones(n, 2 * p),
        "centre_valid": torch.ones(n, dtype=torch.bool),
    }
    return {k: t.to(device) for k, t in b.items()}


def make_role(spec, device):
    m = spec["model"]
    model = Detector(m["width_div"], m["stages"], m["num_pts"])
    init_like_tsal(model, m["init"])
    model.to(device).train()
    params = dict(model.named_parameters())
    o = spec["optimizer"]
    groups = [
        {
            "params": [params[name] for name in g["params"]],
            "lr": o["lr"] * g["lr_mult"],
            "weight_decay": g["weight_decay"],
        }
        for g in spec["groups"]
    ]
    listed = sum(len(g["params"]) for g in spec["groups"])
    if listed != len(params):
        raise SystemExit(f"peer: the groups list {listed} parameters, the model has {len(params)}")
    if o["kind"] == "sgd":
        momentum = o["momentum"]
        # tsal: momentum 0 makes nesterov a no-op (PyTorch refuses the combination).
        opt = torch.optim.SGD(
            groups, lr=o["lr"], momentum=momentum, dampening=0, nesterov=o["nesterov"] and momentum > 0
        )
    else:
        opt = torch.optim.Adam(groups, lr=o["lr"], betas=(0.9, 0.999), eps=1e-8, amsgrad=False)
    return model, opt


def main():
    spec = json.load(sys.stdin)
    device = torch.device(spec["device"])
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    roles = [make_role(spec, device) for _ in range(spec["roles"])]
    b = make_batch(spec, device)
    labelled = spec["batch"]["labelled"]
    criterion, lossnorm = spec["criterion"], spec["lossnorm"]
    phases = [0.0, 0.0, 0.0, 0.0]

    def step(model, opt, timed):
        t0 = time.perf_counter()
        stages, hm, off = model(b["images"])
        if timed:
            sync()
        t1 = time.perf_counter()
        h = stage_mse(stages, b["heatmaps"], b["heatmap_mask"], labelled, criterion, lossnorm)
        fo = centre_focal(hm, b["centre"], b["centre_valid"])
        of = offset_l1(off, b["centre_ind"], b["offsets"], b["offset_mask"], b["centre_valid"])
        total = h * HEATMAP_WEIGHT + fo * CENTRE_FOCAL_WEIGHT + of * OFFSET_WEIGHT
        values = torch.stack([t.detach() for t in (h, fo, of, total)]).double().cpu()
        if not torch.isfinite(values).all():
            raise SystemExit(f"peer: non-finite loss {values.tolist()}")
        t2 = time.perf_counter()
        opt.zero_grad()
        total.backward()
        if timed:
            sync()
        t3 = time.perf_counter()
        opt.step()
        if timed:
            sync()
        t4 = time.perf_counter()
        if timed:
            for i, d in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[i] += d

    def iterate(n, timed=False):
        for _ in range(n):
            for model, opt in roles:
                step(model, opt, timed)

    iterate(spec["warmup"])
    sync()
    times = []
    for _ in range(spec["iters"]):
        t = time.perf_counter()
        iterate(1)
        sync()
        times.append(time.perf_counter() - t)
    seconds = sum(times) / len(times)
    out_phases = None
    if spec["breakdown"]:
        iterate(spec["iters"], timed=True)
        names = ("forward_s", "loss_s", "backward_s", "optimizer_s")
        out_phases = {k: v / spec["iters"] for k, v in zip(names, phases)}
    frames = spec["batch"]["frames"]
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "device": str(device),
                "step": {
                    "iters": spec["iters"],
                    "seconds_per_iter": seconds,
                    "frames_per_s": frames / seconds,
                    "median_seconds_per_iter": statistics.median(times),
                    "phases": out_phases,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
