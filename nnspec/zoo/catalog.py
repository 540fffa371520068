"""The zoo's catalog, computed from the specs themselves (never typed by hand)."""

from __future__ import annotations

from nnspec.bundled import bundled_names


def catalog() -> list[dict]:
    """One row per zoo spec: name, task, inputs, outputs, params, FLOPs, source."""
    from nnspec import api

    rows = []
    for name in bundled_names("zoo"):
        spec = api.load_spec(f"zoo:{name}")
        info = api.summary(spec)
        rows.append({
            "name": name, "task": spec.task,
            "inputs": {k: v["shape"][1:] for k, v in info["inputs"].items()},
            "outputs": {k: v["shape"][1:] for k, v in info["outputs"].items()},
            "params": info["params"], "flops": info["flops"],
            "source": spec.expect.source if spec.expect else None,
        })
    return rows
