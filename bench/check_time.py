"""`nnspec check` on the demo spec: wall time of the whole command, and proof that TensorFlow is not imported.

Run: python bench/check_time.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _common import write_result

PROBE = (
    "import sys; from nnspec.cli import main\n"
    "sys.argv = ['nnspec', 'check', 'example:digits_cnn']\n"
    "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'onnx', 'onnxruntime'))\n"
    "print('HEAVY', heavy)\n"
)


def main(repeats: int = 10) -> None:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(["nnspec", "check", "example:digits_cnn"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    probe = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout
    heavy = probe.split("HEAVY", 1)[1].strip()
    tf_import = subprocess.run([sys.executable, "-c", "import time; t=time.perf_counter(); import tensorflow; "
                                "print(time.perf_counter()-t)"], check=True, capture_output=True, text=True)
    write_result("check_time", {
        "command": "nnspec check example:digits_cnn",
        "wall_median_s": statistics.median(times), "wall_min_s": min(times), "wall_max_s": max(times),
        "repeats": repeats,
        "heavy_modules_imported": heavy,
        "for_comparison_import_tensorflow_s": float(tf_import.stdout.strip().splitlines()[-1]),
    })


if __name__ == "__main__":
    main()
