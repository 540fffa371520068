"""Accuracy of every variant, then batch-1 and batch-32 timings of all of them interleaved (see the
package docstring's Measurement).
"""

from __future__ import annotations

import numpy as np

from nnspec.runtime.deploy_bench.variant import Variant

LATENCY_BATCH = 1
THROUGHPUT_BATCH = 32
WARMUP = 5


def measure(variants: list[Variant], repeats: int, say) -> None:
    """Accuracy of each variant, then batch-1 and batch-32 timings of all of them interleaved."""
    from nnspec.runtime.latency import interleaved_ms, percentiles

    for v in variants:
        say(f"evaluating {v.name}")
        v.row["accuracy"] = v.evaluation.accuracy(v.predict(v.evaluation.x))
        v.row["examples"] = len(v.evaluation)
    for batch, rounds in ((LATENCY_BATCH, repeats), (THROUGHPUT_BATCH, max(10, repeats // 5))):
        say(f"timing {len(variants)} variants at batch {batch} ({rounds} rounds)")
        fns = {v.name: _bound(v.run, v.evaluation.head(batch)) for v in variants}
        times = interleaved_ms(fns, repeats=rounds, warmup=WARMUP)
        for v in variants:
            if batch == LATENCY_BATCH:
                v.row.update({f"{k}_ms": t for k, t in percentiles(times[v.name]).items()})
            else:
                v.row["throughput_eps"] = batch / (float(np.median(times[v.name])) / 1e3)


def _bound(run, x):
    return lambda: run(x)
