# Sourced by the benchmark scripts: Debian's PyTorch as the baseline, and the allocator settings every timed
# process (and its children) runs with.
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "installing python3-torch (Debian's PyTorch, ~800 MB)…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch >&2
fi

# First-touch page faults on this VM make glibc's mmap/munmap of big buffers 3–6× slower
# (reference/dependencies.md §B).
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
