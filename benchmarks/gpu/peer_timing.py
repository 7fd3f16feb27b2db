"""Timing shared by the PyTorch peers in this folder (imported from beside them)."""


def timed(torch, fn, reps=20, warm=5):
    """Median seconds of fn() over `reps` CUDA-event-timed calls after `warm` untimed ones."""
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); e.synchronize()
        ts.append(s.elapsed_time(e) / 1e3)
    ts.sort()
    return ts[len(ts) // 2]


def copy_gbs(torch, dev):
    """Device-to-device copy of 1 GiB, GB/s counting bytes read and written: the memory ceiling."""
    x = torch.empty(1 << 30, dtype=torch.uint8, device=dev)
    y = torch.empty_like(x)
    t = timed(torch, lambda: y.copy_(x))
    return 2 * x.numel() / t / 1e9
