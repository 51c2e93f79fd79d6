"""Library benchmarks: print timings (figures to read, never assertions)."""

from __future__ import annotations

import time

from wdcompanion.claims import run_claim


def main() -> None:
    print("\nlibrary benchmarks")
    for claim_id in ("dmf-lambda-threshold",):
        start = time.perf_counter()
        run_claim(claim_id, "small")
        print(f"{time.perf_counter() - start:8.2f} s  check {claim_id} (small scale)")


if __name__ == "__main__":
    main()
