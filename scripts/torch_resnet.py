"""The PyTorch twins of src/models/resnet.ts and of the trainer's step, shared by the two PyTorch references:
scripts/bench-torch.py (`npm run bench`, CPU) and scripts/gpu-check-torch.py (scripts/gpu-check.sh, GPU).

CIFAR ResNet-18 (3x3 stem, no max-pool, projection shortcuts, 11,173,962 parameters for 10 classes) and He
et al.'s ResNet-20 (option-A zero-pad shortcuts, 269,722). The step: forward in train mode, per-sample
label-smoothed (0.1) cross-entropy, weighted mean over the batch, backward, SGD step.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride = stride
        self.pad = (cout - cin) // 2, cout - cin - (cout - cin) // 2
        self.kind = shortcut
        self.proj = None
        if (stride != 1 or cin != cout) and shortcut == 'projection':
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.reshape = stride != 1 or cin != cout

    def shortcut(self, x):
        if not self.reshape:
            return x
        if self.proj is not None:
            return self.proj(x)
        # Option A: subsample, then zero-pad channels (as ZeroPadChannels in src/models/resnet.ts).
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad[0], self.pad[1]))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1, 3x3 (stride), 1x1 x4 expansion, projection shortcut where the shape changes (as src/models/resnet.ts)."""
    def __init__(self, cin, width, stride, shortcut):
        super().__init__()
        cout = width * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (self.proj(x) if self.proj is not None else x))


class CifarResNet(nn.Module):
    def __init__(self, blocks, widths, shortcut, num_classes=10, block=BasicBlock, expansion=1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for stage, (count, width) in enumerate(zip(blocks, widths)):
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(block(cin, width, stride, shortcut))
                cin = width * expansion
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS = {
    'ResNet18': lambda: CifarResNet([2, 2, 2, 2], [64, 128, 256, 512], 'projection'),
    'ResNet20': lambda: CifarResNet([3, 3, 3], [16, 32, 64], 'zero-pad'),
    'ResNet50': lambda: CifarResNet([3, 4, 6, 3], [64, 128, 256, 512], 'projection', block=Bottleneck, expansion=4),
    'ResNet18Narrow': lambda: CifarResNet([2, 2, 2, 2], [16, 32, 64, 128], 'projection'),
}


def make_sgd(model, lr):
    """SGD as the trainer's: momentum 0.9, weight decay 5e-4 on every parameter."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)


def train_step(model, optimizer, images, labels, weights):
    """One InfoBatch-style step; returns the weighted batch loss (a tensor, not synchronized)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    per_sample = F.cross_entropy(model(images), labels, reduction='none', label_smoothing=0.1)
    loss = (per_sample * weights).mean()
    loss.backward()
    optimizer.step()
    return loss.detach()
