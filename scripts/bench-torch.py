"""PyTorch reference for `npm run bench`: times the same CIFAR ResNets with the same training step.

Run by scripts/bench.ts (one process per model, so peak RSS is per model); prints one JSON line.
The models mirror src/models/resnet.ts: CIFAR ResNet-18 (3x3 stem, no max-pool, projection shortcuts,
11,173,962 parameters for 10 classes) and He et al.'s ResNet-20 (option-A zero-pad shortcuts, 269,722).
The step mirrors the trainer: forward in train mode, per-sample label-smoothed cross-entropy, weighted
mean over the batch, backward, SGD with momentum 0.9 and weight decay 5e-4.
"""
import argparse
import json
import resource
import statistics
import sys
import time

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


class CifarResNet(nn.Module):
    def __init__(self, blocks, widths, shortcut, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for stage, (count, width) in enumerate(zip(blocks, widths)):
            for block in range(count):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(cin, width, stride, shortcut))
                cin = width
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS = {
    'ResNet18': lambda: CifarResNet([2, 2, 2, 2], [64, 128, 256, 512], 'projection'),
    'ResNet20': lambda: CifarResNet([3, 3, 3], [16, 32, 64], 'zero-pad'),
    'ResNet18Narrow': lambda: CifarResNet([2, 2, 2, 2], [16, 32, 64, 128], 'projection'),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--model', required=True, choices=sorted(MODELS))
    parser.add_argument('--batch', type=int, default=128)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--eval-steps', type=int, default=5)
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = MODELS[args.model]()
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(args.batch, 3, 32, 32)
    labels = torch.randint(0, 10, (args.batch,))
    weights = torch.ones(args.batch)

    def train_step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        per_sample = F.cross_entropy(model(images), labels, reduction='none', label_smoothing=0.1)
        (per_sample * weights).mean().backward()
        optimizer.step()
        return per_sample.detach()

    def eval_step():
        model.eval()
        with torch.no_grad():
            return model(images).argmax(1)

    def timed(step, count):
        times = []
        for _ in range(count):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    for _ in range(args.warmup):
        train_step()
    train_s = timed(train_step, args.steps)
    eval_step()
    eval_s = timed(eval_step, args.eval_steps)
    print(json.dumps({
        'backend': 'pytorch', 'model': args.model, 'params': params, 'batch': args.batch,
        'threads': torch.get_num_threads(), 'version': torch.__version__,
        'trainStepSeconds': train_s, 'trainImagesPerSecond': args.batch / train_s,
        'evalStepSeconds': eval_s, 'evalImagesPerSecond': args.batch / eval_s,
        # ru_maxrss is in KiB on Linux.
        'peakRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == '__main__':
    sys.exit(main())
