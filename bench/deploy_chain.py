"""The whole `nnspec deploy` chain on the digits CNN and the small ResNet: half the FLOPs pruned away (whole
channels, fine-tuned), batch norms folded, static int8 / fp16 / LiteRT int8, every form measured side by side.

    python bench/deploy_chain.py            # both models, ~3 min on 2 cores
    python bench/deploy_chain.py digits     # one of them

Writes bench/results/deploy_<model>.md (the deploy's bench.md plus a summary of each step) and .json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from _common import RESULTS, write_result

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = """\
extends: {base}
name: {name}
deploy:
  prune_channels: {{flops: 0.5, fine_tune_epochs: 10}}
  fold_batchnorm: true
  quantize: [static, fp16, litert]
  max_accuracy_drop: 0.01
  exclude_worst: 2
"""
MODELS = {"digits": ROOT / "examples" / "digits_cnn.yaml", "resnet": ROOT / "examples" / "resnet_small.yaml"}


def _steps(report: dict) -> list[dict]:
    """One line of facts per step: what it changed and the accuracy after it."""
    rows = []
    for step in report["steps"]:
        r = step["report"]
        row = {"step": step["step"]}
        for key in ("flops", "params", "accuracy", "ratio", "accuracy_drop", "latency_ratio", "max_abs_diff",
                    "export_seconds", "via"):
            if key in r:
                row[key] = r[key]
        rows.append(row)
    return rows


def main(names: list[str]) -> None:
    import nnspec

    for name in names:
        with tempfile.TemporaryDirectory(prefix="nnspec-deploy-bench-") as folder:
            spec = Path(folder) / f"{name}_deploy.yaml"
            spec.write_text(DEPLOY.format(base=MODELS[name], name=f"{name}_deploy"), encoding="utf-8")
            report = nnspec.deploy(spec, Path(folder) / "out", progress=lambda m: print(f"· {m}", flush=True))
            table = (Path(folder) / "out" / "bench.md").read_text(encoding="utf-8")
        steps = _steps(report)
        write_result(f"deploy_{name}", {"model": str(MODELS[name].relative_to(ROOT)), "steps": steps,
                                        "bench": report["bench"]})
        lines = [table, "\n## Steps\n"] + [f"- `{s['step']}`: " + json.dumps({k: v for k, v in s.items()
                                                                             if k != "step"}) for s in steps]
        (RESULTS / f"deploy_{name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:] or list(MODELS))
