"""Every tool and benchmark script still imports: a module that moves (as CropSampler did, from
foldlite.data to foldlite.training) must not leave a script that fails before it starts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*ROOT.glob("tools/*.py"), *ROOT.glob("benchmarks/*.py")])

# One process imports them all (one torch import instead of one per script). Each script runs its
# top level only: its work sits behind `if __name__ == "__main__"` (checked below).
IMPORT_ALL = """
import importlib.util, sys
failed = []
for path in sys.argv[1:]:
    sys.path.insert(0, str(__import__("pathlib").Path(path).parent))
    spec = importlib.util.spec_from_file_location("script_under_test", path)
    try:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    except Exception as error:
        failed.append(f"{path}: {type(error).__name__}: {error}")
    finally:
        sys.path.pop(0)
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_scripts_keep_their_work_behind_a_main_guard():
    unguarded = [p.name for p in SCRIPTS
                 if '__name__ == "__main__"' not in p.read_text() and p.name != "machine.py"]
    assert not unguarded, f"scripts that would run on import: {unguarded}"


def test_every_tool_and_benchmark_script_imports():
    result = subprocess.run([sys.executable, "-c", IMPORT_ALL, *map(str, SCRIPTS)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
