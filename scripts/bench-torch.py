"""PyTorch reference for `npm run bench`: times the same CIFAR ResNets with the same training step.

Run by scripts/bench.ts (one process per model, so peak RSS is per model); prints one JSON line.
Models and step come from scripts/torch_resnet.py (the twins of src/models/resnet.ts and the trainer's step).
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch

from torch_resnet import MODELS, make_sgd, train_step as resnet_train_step


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
    optimizer = make_sgd(model, lr=0.01)
    images = torch.randn(args.batch, 3, 32, 32)
    labels = torch.randint(0, 10, (args.batch,))
    weights = torch.ones(args.batch)

    def train_step():
        return resnet_train_step(model, optimizer, images, labels, weights)

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
