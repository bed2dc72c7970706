#!/usr/bin/python3
"""DeepDanbooru's ResNet (resnet_custom_v3 / v4) in PyTorch, as the baseline for bench/tag-bench.ts.

Run with Debian's interpreter (/usr/bin/python3, python3-torch 1.13) and, as every benchmark on this VM,
with MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 (reference/dependencies.md §B).

  /usr/bin/python3 bench/torch_resnet.py --check-params
  /usr/bin/python3 bench/torch_resnet.py --arch resnet_custom_v4 --batch 16 --mode frozen \
      --images <folder or file list> --result out.json > tags.jsonl

The model is bench/torch_ddresnet.py (the config table of reference/deepdanbooru.md §3).

Preprocessing (PIL): decode, fit into size×size keeping aspect (scale in float32, round half to even),
PIL BOX filter (area averaging, like TF ResizeArea), edge-replicate pad centred with an integer offset
(DeepDanbooru's skimage warp shifts by half a pixel when the margin is odd; not copied), /255, NHWC.

Each process runs one (arch, batch, mode): it prints one JSON line per image on stdout (tags with p ≥ 0.5)
and writes timings plus ru_maxrss to --result.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from PIL import Image  # noqa: E402

from torch_ddresnet import DeepDanbooruResNet  # noqa: E402

T_IMPORTED = time.perf_counter()

VARIANTS = {
    'resnet_custom_v3': {'filters': [256, 512, 1024, 1024, 2048, 4096], 'repeats': [2, 7, 19, 19, 2, 2]},
    'resnet_custom_v4': {'filters': [256, 512, 1024, 1024, 1024, 2048], 'repeats': [2, 7, 10, 10, 10, 2]},
}
# reference/deepdanbooru.md §3.3, BN moving statistics included, N = 9176 tags
EXPECTED_PARAMS = {'resnet_custom_v3': 161_272_768, 'resnet_custom_v4': 75_832_256}


class Tagger(DeepDanbooruResNet):
    def forward(self, x):
        return torch.sigmoid(super().forward(x))  # as the Keras model ends


def build(arch, tags, size, seed=0):
    torch.manual_seed(seed)
    cfg = VARIANTS[arch]
    return Tagger(cfg['filters'], cfg['repeats'], tags, size).eval()


def count_params(model):
    """Trainable + BN moving mean/variance (Keras counts both; num_batches_tracked is PyTorch-only)."""
    n = sum(p.numel() for p in model.parameters())
    n += sum(b.numel() for name, b in model.named_buffers() if name.endswith(('running_mean', 'running_var')))
    convs = sum(1 for m in model.modules() if isinstance(m, nn.Conv2d))
    bns = sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return n, convs, bns


def check_params():
    ok = True
    for arch, expected in EXPECTED_PARAMS.items():
        model = build(arch, 9176, 512)
        n, convs, bns = count_params(model)
        good = n == expected
        ok &= good
        print(json.dumps({'arch': arch, 'tags': 9176, 'params': n, 'expected': expected, 'convs': convs, 'bn': bns, 'ok': good}))
    return ok


def parity(folder, arch, tags, size, threads):
    """Load weights written by bench/torch-parity.ts (Keras order, OIHW kernels) and compare with ORT's output."""
    torch.set_num_threads(threads)
    with open(os.path.join(folder, 'manifest.json')) as f:
        manifest = json.load(f)
    flat = np.fromfile(os.path.join(folder, 'weights.bin'), dtype=np.float32)
    model = build(arch, tags, size)
    # Keras creates conv a, b, c, shortcut (each with its BN) per block; the modules are registered in that order
    params = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            params.append(m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            params += [m.weight, m.bias, m.running_mean, m.running_var]
    assert len(params) == len(manifest['variables']), (len(params), len(manifest['variables']))
    offset = 0
    with torch.no_grad():
        for t, v in zip(params, manifest['variables']):
            n = int(np.prod(v['shape']))
            assert list(t.shape) == v['shape'], (v['key'], list(t.shape), v['shape'])
            t.copy_(torch.from_numpy(flat[offset:offset + n].reshape(v['shape'])))
            offset += n
    x = np.fromfile(os.path.join(folder, 'input.bin'), dtype=np.float32).reshape(manifest['input'])
    expected = np.fromfile(os.path.join(folder, 'output.bin'), dtype=np.float32).reshape(manifest['output'])
    out = {'arch': arch, 'size': size, 'tags': tags}
    for layout in ('nchw', 'cl'):
        m = model.to(memory_format=torch.channels_last) if layout == 'cl' else model
        xt = to_model_input(x, layout)
        with torch.no_grad():
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(m, xt).eval()))
        with torch.inference_mode():
            for mode, fn in (('eager', m), ('frozen', frozen)):
                y = fn(xt).numpy()
                out[f'{mode}_{layout}_max_abs_diff'] = float(np.abs(y - expected).max())
    out['output_range'] = [float(expected.min()), float(expected.max())]
    print(json.dumps(out))
    return max(v for k, v in out.items() if k.endswith('diff')) < 1e-4


def list_images(spec):
    if os.path.isdir(spec):
        names = sorted(n for n in os.listdir(spec) if n.lower().endswith(('.jpg', '.jpeg', '.png', '.webp')))
        return [os.path.join(spec, n) for n in names]
    with open(spec) as f:
        return [line.strip() for line in f if line.strip()]


def load_image(path, size, out):
    """Decode + fit + edge pad into `out` (size×size×3 float32 view)."""
    with Image.open(path) as im:
        im = im.convert('RGB')
        w, h = im.size
        scale = float(np.float32(min(size / h, size / w)))
        nw, nh = max(1, round(scale * w)), max(1, round(scale * h))  # round() is half-to-even, as TF
        im = im.resize((nw, nh), Image.BOX)
        a = np.asarray(im)
    top, left = (size - nh) // 2, (size - nw) // 2
    a = np.pad(a, ((top, size - nh - top), (left, size - nw - left), (0, 0)), mode='edge')
    np.multiply(a, np.float32(1 / 255), out=out, casting='unsafe')


def to_model_input(nhwc, layout):
    x = torch.from_numpy(nhwc).permute(0, 3, 1, 2)  # NHWC storage = channels_last strides
    return x if layout == 'cl' else x.contiguous()


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--check-params', action='store_true', help='verify the v3/v4 parameter counts at 9176 tags and exit')
    p.add_argument('--parity', metavar='DIR', help='compare with ORT on the weights, input and output in DIR (bench/torch-parity.ts)')
    p.add_argument('--arch', default='resnet_custom_v4', choices=sorted(VARIANTS))
    p.add_argument('--tags', type=int, default=9176)
    p.add_argument('--size', type=int, default=512)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--mode', default='eager', choices=['eager', 'frozen'])
    p.add_argument('--layout', default='nchw', choices=['nchw', 'cl'], help='cl = channels_last')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--images', help='a folder of images or a file with one path per line')
    p.add_argument('--model-only', type=int, default=0, metavar='RUNS',
                   help='skip the images: time RUNS forward passes on a pre-made random batch (after warm-up)')
    p.add_argument('--threshold', type=float, default=0.5)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--result', help='write the timing JSON here (default: stderr)')
    args = p.parse_args()

    if args.check_params:
        sys.exit(0 if check_params() else 1)
    if args.parity:
        sys.exit(0 if parity(args.parity, args.arch, args.tags, args.size, args.threads) else 1)

    torch.set_num_threads(args.threads)  # Debian's torch defaults to 1 thread
    B, S = args.batch, args.size
    timings = {}

    t = time.perf_counter()
    model = build(args.arch, args.tags, S, args.seed)
    if args.layout == 'cl':
        model = model.to(memory_format=torch.channels_last)
    timings['build_s'] = time.perf_counter() - t
    n_params = count_params(model)[0]

    # warm-up on a pre-made batch; for `frozen` this is also trace → freeze → optimize_for_inference, and
    # TorchScript's profiling executor needs a couple of runs before it settles on the optimised graph
    t = time.perf_counter()
    example = to_model_input(np.random.default_rng(1).random((B, S, S, 3), dtype=np.float32), args.layout)
    if args.mode == 'frozen':
        with torch.no_grad():
            traced = torch.jit.trace(model, example)
            model = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
        warmups = 2  # profiling run, then the optimised graph is compiled
    else:
        warmups = 1
    with torch.inference_mode():
        for _ in range(warmups):
            model(example)
    timings['prepare_s'] = time.perf_counter() - t
    rss_before_images = rss_mb()

    result = {
        'runtime': 'pytorch', 'torch': torch.__version__, 'arch': args.arch, 'tags': args.tags, 'size': S, 'batch': B,
        'mode': args.mode, 'layout': args.layout, 'threads': torch.get_num_threads(), 'params': n_params,
        'import_s': T_IMPORTED - T_START,
    }

    if args.model_only:
        times = []
        with torch.inference_mode():
            for _ in range(args.model_only):
                t = time.perf_counter()
                model(example)
                times.append(time.perf_counter() - t)
        result.update(timings, model_runs_s=times, model_batch_s=float(np.median(times)),
                      model_img_per_s=B / float(np.median(times)), peak_rss_mb=rss_mb())
        emit(result, args.result)
        return

    paths = list_images(args.images)
    buf = np.empty((B, S, S, 3), dtype=np.float32)
    names = [f'tag_{i}' for i in range(args.tags)]
    decode_s, decode_cpu_s, model_s, post_s, batch_end = [], [], [], [], []
    out = sys.stdout
    t_loop = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(paths), B):
            chunk = paths[start:start + B]
            t0, c0 = time.perf_counter(), time.thread_time()
            for i, path in enumerate(chunk):
                load_image(path, S, buf[i])
            decode_cpu_s.append(time.thread_time() - c0)
            if len(chunk) < B and args.mode == 'frozen':
                buf[len(chunk):] = 0  # the traced graph is specialised to batch B: pad the last batch
            n = B if args.mode == 'frozen' else len(chunk)
            x = to_model_input(buf[:n], args.layout)
            t1 = time.perf_counter()
            probs = model(x)[:len(chunk)].numpy()
            t2 = time.perf_counter()
            for path, row in zip(chunk, probs):
                hit = np.flatnonzero(row >= args.threshold)
                out.write(json.dumps({'file': path, 'tags': {names[j]: round(float(row[j]), 4) for j in hit}}) + '\n')
            out.flush()
            t3 = time.perf_counter()
            decode_s.append(t1 - t0)
            model_s.append(t2 - t1)
            post_s.append(t3 - t2)
            batch_end.append(t3)
    loop_s = time.perf_counter() - t_loop

    # steady state: everything after the first batch (which still pays first-touch memory and lazy init)
    steady_imgs = len(paths) - min(B, len(paths))
    steady_s = batch_end[-1] - batch_end[0] if len(batch_end) > 1 else float('nan')
    rest = slice(1, None) if len(model_s) > 1 else slice(None)
    result.update(
        timings,
        images=len(paths),
        loop_s=loop_s,
        e2e_loop_img_per_s=len(paths) / loop_s,
        steady_img_per_s=steady_imgs / steady_s if steady_imgs else float('nan'),
        decode_img_s=float(np.sum(decode_s) / len(paths)),
        decode_cpu_img_s=float(np.sum(decode_cpu_s) / len(paths)),
        model_batch_s=float(np.median(model_s[rest])),
        model_runs_s=model_s,
        decode_runs_s=decode_s,
        post_runs_s=post_s,
        peak_rss_before_images_mb=rss_before_images,
        peak_rss_mb=rss_mb(),
    )
    result['model_img_per_s'] = B / result['model_batch_s']
    emit(result, args.result)


def emit(result, path):
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.items()}
    text = json.dumps(clean)
    if path:
        with open(path, 'w') as f:
            f.write(text + '\n')
    else:
        print(text, file=sys.stderr)


if __name__ == '__main__':
    main()
