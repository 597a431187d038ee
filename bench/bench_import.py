"""Start-up cost: `import reptopo.record` (what the analysis, the site and `cite` load to read a
record) and `reptopo --help`, each as a ratio against importing the libraries they cannot avoid
(pydantic, numpy and PyYAML), timed in the same run, best of five fresh interpreters."""

import subprocess
import sys
import time


def _best(argv: list[str], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def test_import_record_and_help_against_their_libraries(benchmark):
    py = sys.executable
    floor = _best([py, "-c", "import pydantic, numpy, yaml"])
    record = _best([py, "-c", "import reptopo.record"])
    helps = _best([py, "-m", "reptopo.cli", "--help"])
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    benchmark.extra_info.update(floor_s=floor, record_s=record, help_s=helps)
    print(
        f"\npydantic + numpy + yaml {floor:.3f} s; import reptopo.record {record:.3f} s ({record / floor:.2f} x); "
        f"reptopo --help {helps:.3f} s ({helps / floor:.2f} x)"
    )
    assert record / floor < 3 and helps / floor < 5
