"""PyTorch parity check for tsal's models.

Builds the detector (CPM-VGG16 + CenterNet branch, scripts/torch_detector.py) and the PWC-Lite
tracker in PyTorch as the reference code defines them (lib/models/cpm_vgg16.py, VGG16_base;
lib/models/MFDS_model.py), loads tsal-written safetensors weights with load_state_dict(strict=True)
and compares the outputs on tsal's fixed inputs.

usage: parity.py detector WEIGHTS IO width_div stages num_pts
       parity.py tracker  WEIGHTS IO
IO is a safetensors file with the input(s) and tsal's outputs. Exit 0 when every output
matches to 1e-4 (max abs difference), 1 otherwise.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

# The detector's PyTorch definition is shared with scripts/peer_train.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from torch_detector import Detector  # noqa: E402


def aconv(cin, cout, k=3, stride=1, dilation=1, relu=True):
    m = [nn.Conv2d(cin, cout, k, stride, (k - 1) * dilation // 2, dilation)]
    if relu:
        m.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*m)


def warp(x, flow):
    n, _, h, w = x.shape
    v, u = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    gx = (u + flow[:, 0]) * 2 / (w - 1) - 1
    gy = (v + flow[:, 1]) * 2 / (h - 1) - 1
    return F.grid_sample(x, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="border", align_corners=True)


def corr(x1, x2, d=4):
    h, w = x1.shape[2:]
    x2 = F.pad(x2, (d, d, d, d))
    return torch.cat([(x1 * x2[:, :, i:i + h, j:j + w]).mean(1, keepdim=True) for i in range(2 * d + 1) for j in range(2 * d + 1)], 1)


class Pyramid(nn.Module):
    def __init__(self):
        super().__init__()
        ch = [3, 16, 32, 64, 96, 128, 192]
        self.convs = nn.ModuleList([nn.Sequential(aconv(a, b, 3, 2), aconv(b, b)) for a, b in zip(ch[:-1], ch[1:])])


class Estimator(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = aconv(c, 128)
        self.conv2 = aconv(128, 128)
        self.conv3 = aconv(256, 96)
        self.conv4 = aconv(224, 64)
        self.conv5 = aconv(160, 32)
        self.predict_flow = aconv(96, 2, relu=False)

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(x1)
        x3 = self.conv3(torch.cat([x1, x2], 1))
        x4 = self.conv4(torch.cat([x2, x3], 1))
        x5 = self.conv5(torch.cat([x3, x4], 1))
        return x5, self.predict_flow(torch.cat([x4, x5], 1))


class Context(nn.Module):
    def __init__(self):
        super().__init__()
        spec = [(34, 128, 1), (128, 128, 2), (128, 128, 4), (128, 96, 8), (96, 64, 16), (64, 32, 1)]
        self.convs = nn.Sequential(*[aconv(a, b, 3, 1, d) for a, b, d in spec], aconv(32, 2, relu=False))

    def forward(self, x):
        return self.convs(x)


class PwcLite(nn.Module):
    def __init__(self):
        super().__init__()
        self.feature_pyramid_extractor = Pyramid()
        self.flow_estimators = Estimator(32 + 81 + 2)
        self.context_networks = Context()
        self.conv_1x1 = nn.ModuleList([aconv(c, 32, 1) for c in [192, 128, 96, 64, 32]])

    def pyr(self, x):
        out = []
        for m in self.feature_pyramid_extractor.convs:
            x = m(x)
            out.append(x)
        return out[::-1]

    def two(self, p1, p2):
        flows = []
        flow = torch.zeros(p1[0].shape[0], 2, *p1[0].shape[2:])
        for l in range(5):
            if l == 0:
                x2 = p2[l]
            else:
                flow = F.interpolate(flow * 2, scale_factor=2, mode="bilinear", align_corners=True)
                x2 = warp(p2[l], flow)
            c = F.leaky_relu(corr(p1[l], x2), 0.1)
            feat, res = self.flow_estimators(torch.cat([c, self.conv_1x1[l](p1[l]), flow], 1))
            flow = flow + res
            flow = flow + self.context_networks(torch.cat([feat, flow], 1))
            flows.append(flow)
        return [F.interpolate(f * 4, scale_factor=4, mode="bilinear", align_corners=True) for f in flows][::-1]

    def forward(self, a, b):
        p1, p2 = self.pyr(a), self.pyr(b)
        return self.two(p1, p2), self.two(p2, p1)


def compare(name, ours, theirs):
    d = (ours - theirs).abs().max().item()
    print(f"{name:24s} max |diff| = {d:.3e}")
    return d <= 1e-4


def main():
    kind, weights, io = sys.argv[1], sys.argv[2], sys.argv[3]
    sd = load_file(weights)
    t = load_file(io)
    with torch.no_grad():
        if kind == "detector":
            m = Detector(int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
            m.load_state_dict(sd, strict=True)
            m.eval()
            stages, hm, off = m(t["input"])
            ok = all(compare(f"stage {i}", t[f"stage{i}"], s) for i, s in enumerate(stages))
            ok &= compare("centre", t["centre"], hm) & compare("offsets", t["offsets"], off)
        else:
            m = PwcLite()
            m.load_state_dict(sd, strict=True)
            fw, bw = m(t["img1"], t["img2"])
            ok = all(compare(f"forward flow {i}", t[f"fw{i}"], f) for i, f in enumerate(fw))
            ok &= all(compare(f"backward flow {i}", t[f"bw{i}"], f) for i, f in enumerate(bw))
    print("parity:", "ok" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
