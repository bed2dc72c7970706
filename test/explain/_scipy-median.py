# Oracle for test/explain/postprocess.test.ts: DeepDanbooru's norm_clip_grads + scipy median_filter(size=10)
import json, os
import numpy as np, scipy.ndimage
rng = np.random.default_rng(7)
h, w = 13, 11
grad = np.round(rng.normal(0, 1, (h, w, 3)), 4).astype(np.float32)
grad[3, 4, 1] = 25.0   # outliers the percentile clip must cut
grad[9, 2, 0] = -30.0
upper, lower = np.quantile(grad, 0.99), np.quantile(grad, 0.01)
clipped = np.abs(np.clip(grad, lower, upper))
norm = clipped / np.max(clipped)
filtered = scipy.ndimage.median_filter(norm, 10)
json.dump({"width": w, "height": h, "grad": [float(f"{v:.4f}") for v in grad.ravel()], "norm": [round(float(v), 8) for v in norm.ravel()], "filtered": [round(float(v), 8) for v in filtered.ravel()]}, open(os.path.join(os.path.dirname(__file__), "_scipy-median.json"), "w"))
print(norm.dtype, filtered.dtype, filtered.shape)
