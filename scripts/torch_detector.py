"""The tsal detector (CPM-VGG16 + CenterNet branch) in PyTorch, after the reference's `VGG16_base`
(`lib/models/cpm_vgg16.py:166-340`), with its `state_dict` names, so tsal's safetensors load with
`load_state_dict(strict=True)`. Shared by tests/parity.py (forward parity) and
scripts/peer_train.py (the PyTorch peer of `tsal bench train`).

Shapes: input `[N, 3, H, W]` (H, W multiples of 32); `forward` returns the CPM stages' heatmaps
(a list of `[N, num_pts + 1, H/8, W/8]`), the face-centre logits `[N, 1, H/8, W/8]` and the
landmark offsets `[N, 2·num_pts, H/8, W/8]`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_relu(cin, cout, k, stride=1):
    return [nn.Conv2d(cin, cout, k, stride, k // 2), nn.ReLU(inplace=True)]


class Bottleneck(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Detector(nn.Module):
    def __init__(self, div, stages, num_pts):
        super().__init__()
        w = lambda c: c // div
        p = num_pts + 1
        layers, cin = [], 3
        for i, v in enumerate([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += conv_relu(cin, w(v), 3)
                cin = w(v)
        self.features = nn.Sequential(*layers)
        feat = w(128)
        self.CPM_feature = nn.Sequential(*conv_relu(cin, w(256), 3), *conv_relu(w(256), feat, 3))
        s = w(128)
        first = conv_relu(feat, s, 3)
        for _ in range(3):
            first += conv_relu(s, s, 3)
        first += conv_relu(s, 4 * s, 1) + [nn.Conv2d(4 * s, p, 1)]
        mods = [nn.Sequential(*first)]
        for _ in range(1, stages):
            later = conv_relu(feat + p, s, 7) + conv_relu(s, s, 7) + conv_relu(s, s, 7)
            for _ in range(4):
                later += conv_relu(s, s, 3)
            later += conv_relu(s, s, 1) + [nn.Conv2d(s, p, 1)]
            mods.append(nn.Sequential(*later))
        self.stages = nn.ModuleList(mods)

        def layer(cin, planes, blocks):
            return nn.Sequential(Bottleneck(cin, planes, 2), *[Bottleneck(planes * 4, planes, 1) for _ in range(blocks - 1)])

        self.layer3_forhm = layer(feat, w(256), 6)
        self.layer4_forhm = layer(w(256) * 4, w(512), 3)
        dec, c = [], w(512) * 4
        for _ in range(3):
            dec += [nn.ConvTranspose2d(c, w(256), 4, 2, 1, 0, bias=False), nn.BatchNorm2d(w(256)), nn.ReLU(inplace=True)]
            c = w(256)
        self.deconv_layers_forhm = nn.Sequential(*dec)
        self.hm = nn.Sequential(nn.Conv2d(c, w(128), 3, 2, 1), nn.ReLU(inplace=True), nn.Conv2d(w(128), 1, 1))
        self.hmhp_offset = nn.Sequential(nn.Conv2d(c, w(128), 3, 2, 1), nn.ReLU(inplace=True), nn.Conv2d(w(128), 2 * num_pts, 1))

    def forward(self, x):
        f = self.CPM_feature(self.features(x))
        outs = [self.stages[0](f)]
        for st in self.stages[1:]:
            outs.append(st(torch.cat([f, outs[-1]], 1)))
        y = self.deconv_layers_forhm(self.layer4_forhm(self.layer3_forhm(f)))
        return outs, self.hm(y), self.hmhp_offset(y)
