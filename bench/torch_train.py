#!/usr/bin/python3
"""The PyTorch side of bench/train-bench.ts: training steps of a DeepDanbooru ResNet built from the same
filters/repeats table as tagbooru's (passed on the command line, so the two cannot drift).

Run with Debian's interpreter (/usr/bin/python3, python3-torch 1.13) and with
MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 (reference/dependencies.md §B):

  /usr/bin/python3 bench/torch_train.py --filters 64,128,256,512 --repeats 1,2,2,1 --size 128 --batch 32 \
      --layout cl --steps 12 --warmup 3 --result out.json

One step = forward in train mode (batch statistics), BCE on logits (mean over tags and batch),
backward, SGD momentum 0.9 with Nesterov, as tagbooru's step graph does. PyTorch's Nesterov update
(v ← μv + g; w ← w − lr(g + μv)) is Keras' (v ← μv − lr·g; w ← w + μv − lr·g) with v scaled by −lr;
for a constant lr the iterates are identical. BN momentum differs (not timed in any meaningful way).
Prints nothing; writes per-step times, peak RSS (VmHWM) and others' CPU share during the timed steps
(this VM is shared) as JSON to --result.
"""
import argparse
import json
import time

T_START = time.perf_counter()

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from torch_ddresnet import DeepDanbooruResNet  # noqa: E402

T_IMPORTED = time.perf_counter()


def cpu_snapshot():
    """(busy, total) jiffies of the whole machine and this process's own CPU ticks (utime + stime)."""
    with open('/proc/stat') as f:
        cpu = [int(v) for v in f.readline().split()[1:9]]
    with open('/proc/self/stat') as f:
        fields = f.read().split(') ')[1].split()
    total = sum(cpu)
    return total - cpu[3] - cpu[4], total, int(fields[11]) + int(fields[12])


def others_share(a, b):
    """Share of the machine's CPU time other processes used between two snapshots (0–1)."""
    total = b[1] - a[1]
    return max(0.0, (b[0] - a[0] - (b[2] - a[2])) / total) if total > 0 else float('nan')


def vm_hwm_mb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--filters', required=True)
    p.add_argument('--repeats', required=True)
    p.add_argument('--tags', type=int, default=1000)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--layout', default='nchw', choices=['nchw', 'cl'], help='cl = channels_last')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--steps', type=int, default=10, help='timed steps after the warm-up')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--result', required=True)
    args = p.parse_args()

    torch.set_num_threads(args.threads)  # Debian's torch defaults to 1 thread
    torch.manual_seed(0)
    filters = [int(v) for v in args.filters.split(',')]
    repeats = [int(v) for v in args.repeats.split(',')]
    model = DeepDanbooruResNet(filters, repeats, args.tags, args.size).train()
    fmt = torch.channels_last if args.layout == 'cl' else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True)
    loss_fn = nn.BCEWithLogitsLoss()  # mean over batch and tags, as Keras' BinaryCrossentropy
    g = torch.Generator().manual_seed(1)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=g).contiguous(memory_format=fmt)
    t = (torch.rand(args.batch, args.tags, generator=g) < 0.05).float()

    times, cpu, losses = [], [], []
    before = cpu_snapshot()
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            before = cpu_snapshot()
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
        value = loss.item()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        losses.append(value)
    others = others_share(before, cpu_snapshot())
    timed = sorted(times[args.warmup:])
    mid = len(timed) // 2
    result = {
        'runtime': 'pytorch', 'torch': torch.__version__, 'layout': args.layout, 'threads': torch.get_num_threads(),
        'size': args.size, 'batch': args.batch, 'tags': args.tags, 'filters': filters, 'repeats': repeats,
        'params': sum(q.numel() for q in model.parameters()),
        'import_s': T_IMPORTED - T_START, 'step_s': times, 'cpu_s': cpu, 'warmup': args.warmup,
        'median_step_s': timed[mid] if len(timed) % 2 else (timed[mid - 1] + timed[mid]) / 2, 'loss_first': losses[0], 'loss_last': losses[-1],
        'peak_rss_mb': vm_hwm_mb(), 'others_cpu': others,
    }
    with open(args.result, 'w') as f:
        f.write(json.dumps(result) + '\n')


if __name__ == '__main__':
    main()
