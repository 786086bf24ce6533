"""PyTorch side of the GPU checks (scripts/gpu-check.sh, scripts/gpu-check-cuda.sh): the same CIFAR ResNet
training step, timed on the same GPU.

Model and step come from torch_resnet.py beside this file (the twins of src/models/resnet.ts and the
trainer's step: CIFAR ResNet-18, 11,173,962 parameters; SGD lr 0.05, momentum 0.9, weight decay 5e-4; float32).
Each timed step ends with torch.cuda.synchronize(); the median over the steps after warm-up is reported.

Precisions: 'fp32' turns TF32 off for convolutions and matrix products, so the GPU does the same float32
FMA arithmetic as our backends' fp32 (the fair comparison); 'tf32' is PyTorch's default for convolutions
(cuDNN may use TF32 tensor cores), what a PyTorch user gets out of the box; 'bf16' is autocast with
channels_last.
Prints one line `GPU_CHECK {json}` per precision.
"""
import argparse
import contextlib
import json
import statistics
import sys
import time

import torch

from torch_resnet import MODELS, make_sgd, train_step


def set_tf32(enabled):
    """TF32 on or off for cuDNN convolutions and cuBLAS matrix products.

    PyTorch 2.9 and later take `fp32_precision` ('tf32' or 'ieee') and warn on the older `allow_tf32`
    flags (and refuse to read those once the new ones were set); older versions have only the flags.
    """
    conv = getattr(torch.backends.cudnn, 'conv', None)
    if conv is not None and hasattr(conv, 'fp32_precision'):
        mode = 'tf32' if enabled else 'ieee'
        torch.backends.cudnn.conv.fp32_precision = mode
        torch.backends.cuda.matmul.fp32_precision = mode
    else:
        torch.backends.cudnn.allow_tf32 = enabled
        torch.backends.cuda.matmul.allow_tf32 = enabled


def mixed_precision(device, precision):
    """Autocast to bf16 for 'bf16' on the tensors' own device type; nothing otherwise.

    Not torch.autocast('cuda', enabled=False): PyTorch 1.13 asks CUDA whether it supports bf16 even then,
    which fails on a build without CUDA, so `--device cpu` could not run at all.
    """
    if precision != 'bf16':
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def measure(device, precision, batch, warmup, steps, model_name='ResNet18', evaluate=False):
    # bf16: autocast (bf16 convolutions and matmuls, fp32 master weights) with channels_last, TF32 off.
    set_tf32(precision == 'tf32')
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = MODELS[model_name]().to(device).train()
    if precision == 'bf16':
        model = model.to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters())
    optimizer = make_sgd(model, lr=0.05)
    images = torch.randn(batch, 3, 32, 32, device=device)
    if precision == 'bf16':
        images = images.contiguous(memory_format=torch.channels_last)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    labels = torch.arange(batch, device=device) % 10
    weights = torch.ones(batch, device=device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    times, losses = [], []
    for i in range(warmup + steps):
        sync()
        start = time.perf_counter()
        with mixed_precision(device, precision):
            loss = train_step(model, optimizer, images, labels, weights)
        sync()
        seconds = time.perf_counter() - start
        losses.append(loss.item())
        if i >= warmup:
            times.append(seconds)
    median = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) if device.type == 'cuda' else 0
    eval_rate = None
    if evaluate:
        model.eval()
        eval_times = []
        with torch.no_grad(), mixed_precision(device, precision):
            for i in range(warmup + steps):
                sync()
                start = time.perf_counter()
                model(images).argmax(1).cpu()
                eval_times.append(time.perf_counter() - start)
        eval_rate = batch / statistics.median(eval_times[warmup:])
    return {
        'framework': 'pytorch', 'precision': precision, 'device': str(device),
        'deviceName': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
        'torch': torch.__version__, 'model': model_name, 'peakBytes': peak, 'evalImagesPerSecond': eval_rate, 'params': params, 'batch': batch,
        'warmup': warmup, 'steps': steps, 'medianStepSeconds': median, 'imagesPerSecond': batch / median,
        'firstLoss': losses[0], 'lastLoss': losses[-1],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=128)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--device', default='cuda', help="'cuda' (default) or 'cpu' (to test this script without a GPU)")
    parser.add_argument('--precision', nargs='+', default=['fp32', 'tf32'], choices=['fp32', 'tf32', 'bf16'])
    parser.add_argument('--model', default='ResNet18', choices=sorted(MODELS))
    parser.add_argument('--eval', action='store_true', help='also time inference (eval mode, no grad)')
    args = parser.parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('gpu-check-torch: PyTorch sees no CUDA GPU', file=sys.stderr)
        return 3
    device = torch.device(args.device)
    for precision in args.precision:
        result = measure(device, precision, args.batch, args.warmup, args.steps, args.model, args.eval)
        print(f"PyTorch {result['torch']} {args.model} ({result['params']:,} params), batch {args.batch}, {precision}, "
              f"on {result['deviceName']}: median step {result['medianStepSeconds'] * 1000:.1f} ms = "
              f"{result['imagesPerSecond']:.1f} img/s", flush=True)
        print('GPU_CHECK ' + json.dumps(result), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
