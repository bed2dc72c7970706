"""DeepDanbooru's ResNet in PyTorch, shared by the benchmark baselines (bench/torch_resnet.py for inference,
bench/torch_train.py for training steps).

The topology is the config table of reference/deepdanbooru.md §3 and src/models/resnet.ts: stem 7×7/2 conv +
BN + ReLU, 3×3/2 max pool (TF SAME, −inf pad), per stage a projection block (stride on the 3×3, 1×1/s
shortcut) and `repeats` identity bottlenecks, BN eps 1e-3, no conv bias, head 1×1 conv to N tags → GAP.
TF "SAME" padding is asymmetric (more after than before), so convs that need it run F.pad first.
"""
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3


def same_pad(size, k, s):
    """TF SAME: out = ceil(in/s); total = max((out−1)·s + k − in, 0); before = total // 2."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class ConvBN(nn.Module):
    """Conv (no bias, TF SAME) + BN(eps 1e-3), optional ReLU. Knows its input size, so padding is static."""

    def __init__(self, cin, cout, k, s, size, relu=True, zero_gamma=False):
        super().__init__()
        before, after = same_pad(size, k, s)
        # symmetric padding goes into the conv; TF's asymmetric (before < after) needs an explicit F.pad
        self.pad = None if before == after else (before, after, before, after)
        self.conv = nn.Conv2d(cin, cout, k, s, padding=before if before == after else 0, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.relu = relu
        self.out_size = -(-size // s)
        nn.init.kaiming_normal_(self.conv.weight, mode='fan_in', nonlinearity='relu')  # he_normal
        if zero_gamma:
            nn.init.zeros_(self.bn.weight)  # DeepDanbooru zero-inits the last BN of each residual branch

    def forward(self, x):
        if self.pad is not None:
            x = F.pad(x, self.pad)
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x


class Bottleneck(nn.Module):
    def __init__(self, cin, filters, stride, size, project):
        super().__init__()
        mid = filters // 4
        self.a = ConvBN(cin, mid, 1, 1, size)
        self.b = ConvBN(mid, mid, 3, stride, size)  # stride on the 3×3 ("ResNet v1.5")
        self.c = ConvBN(mid, filters, 1, 1, self.b.out_size, relu=False, zero_gamma=True)
        self.shortcut = ConvBN(cin, filters, 1, stride, size, relu=False) if project else None
        self.out_size = self.b.out_size

    def forward(self, x):
        y = self.c(self.b(self.a(x)))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class DeepDanbooruResNet(nn.Module):
    """Returns logits (conv1×1 → GAP); the Keras model's sigmoid is the caller's."""

    def __init__(self, filters, repeats, tags, size):
        super().__init__()
        self.stem = ConvBN(3, filters[0] // 4, 7, 2, size)
        size = self.stem.out_size
        self.pool_pad = same_pad(size, 3, 2)
        size = -(-size // 2)
        blocks, cin = [], filters[0] // 4
        for i, (f, r) in enumerate(zip(filters, repeats)):
            blocks.append(Bottleneck(cin, f, 1 if i == 0 else 2, size, True))
            size, cin = blocks[-1].out_size, f
            blocks += [Bottleneck(f, f, 1, size, False) for _ in range(r)]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(cin, tags, 1, bias=False)
        nn.init.kaiming_normal_(self.head.weight, mode='fan_in', nonlinearity='relu')

    def forward(self, x):
        x = self.stem(x)
        b, a = self.pool_pad
        x = F.max_pool2d(F.pad(x, (b, a, b, a), value=float('-inf')), 3, 2)
        return self.head(self.blocks(x)).mean((2, 3))
