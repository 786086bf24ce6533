"""PyTorch side of scripts/gpu-check.sh: the same CIFAR ResNet-18 training step, timed on the same GPU.

The model mirrors src/models/resnet.ts (3x3 stride-1 stem, no max-pool, stages 64/128/256/512 with
strides 1/2/2/2, 1x1 conv + BN projection shortcuts, global average pool, dense; 11,173,962 parameters
for 10 classes). The step mirrors the trainer: forward in train mode, per-sample label-smoothed (0.1)
cross-entropy, mean of weight x loss, backward, SGD lr 0.05, momentum 0.9, weight decay 5e-4; float32.
Each timed step ends with torch.cuda.synchronize(); the median over the steps after warm-up is reported.

Two precisions: 'fp32' turns TF32 off for convolutions and matrix products, so the GPU does the same
float32 arithmetic as WebGPU's shaders (the fair comparison); 'tf32' is PyTorch's default for
convolutions (cuDNN may use TF32 tensor cores), what a PyTorch user gets out of the box.
Prints one line `GPU_CHECK {json}` per precision.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class CifarResNet18(nn.Module):
    def __init__(self, num_classes=10, widths=(64, 128, 256, 512)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, cin = [], widths[0]
        for stage, width in enumerate(widths):
            for block in range(2):
                blocks.append(BasicBlock(cin, width, 2 if stage > 0 and block == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def measure(device, precision, batch, warmup, steps):
    tf32 = precision == 'tf32'
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = CifarResNet18().to(device).train()
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(batch, 3, 32, 32, device=device)
    labels = torch.arange(batch, device=device) % 10
    weights = torch.ones(batch, device=device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    times, losses = [], []
    for i in range(warmup + steps):
        sync()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        per_sample = F.cross_entropy(model(images), labels, reduction='none', label_smoothing=0.1)
        loss = (per_sample * weights).mean()
        loss.backward()
        optimizer.step()
        sync()
        seconds = time.perf_counter() - start
        losses.append(loss.item())
        if i >= warmup:
            times.append(seconds)
    median = statistics.median(times)
    return {
        'framework': 'pytorch', 'precision': precision, 'device': str(device),
        'deviceName': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
        'torch': torch.__version__, 'model': 'ResNet18', 'params': params, 'batch': batch,
        'warmup': warmup, 'steps': steps, 'medianStepSeconds': median, 'imagesPerSecond': batch / median,
        'firstLoss': losses[0], 'lastLoss': losses[-1],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=128)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--device', default='cuda', help="'cuda' (default) or 'cpu' (to test this script without a GPU)")
    parser.add_argument('--precision', nargs='+', default=['fp32', 'tf32'], choices=['fp32', 'tf32'])
    args = parser.parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('gpu-check-torch: PyTorch sees no CUDA GPU', file=sys.stderr)
        return 3
    device = torch.device(args.device)
    for precision in args.precision:
        result = measure(device, precision, args.batch, args.warmup, args.steps)
        print(f"PyTorch {result['torch']} ResNet18 ({result['params']:,} params), batch {args.batch}, {precision}, "
              f"on {result['deviceName']}: median step {result['medianStepSeconds'] * 1000:.1f} ms = "
              f"{result['imagesPerSecond']:.1f} img/s", flush=True)
        print('GPU_CHECK ' + json.dumps(result), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
