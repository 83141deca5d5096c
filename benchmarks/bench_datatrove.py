"""datatrove doing the work of our WET job, for the side-by-side in bench_compare.py.

Runs under a separate virtualenv that has datatrove (never the project's venv):

    /work/venv-datatrove/bin/python benchmarks/bench_datatrove.py --input-dir D --glob '*.warc.wet.gz' \
        --work W --tokenizer-json T [--gopher] [--tasks 1]

Pipeline (datatrove 0.10 building blocks, following its MinHash example):
1. WarcReader -> [GopherRepetitionFilter, GopherQualityFilter with --gopher] -> FTFYFormatter
   -> JsonlWriter (docs) -> MinhashDedupSignature
2. MinhashDedupBuckets  3. MinhashDedupCluster
4. JsonlReader (docs) -> MinhashDedupFilter -> PIIFormatter -> JsonlWriter (kept) -> DocumentTokenizer

datatrove has no separate exact-dedup step in this chain (MinHash catches exact copies too), and its
PIIFormatter replaces emails and IP addresses only (no phone numbers).
Prints JSON: kept document ids (WARC-Record-ID uuids) and the number of tokens written.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input-dir", required=True)
    parser.add_argument("--glob", default="*.warc.wet.gz")
    parser.add_argument("--work", required=True)
    parser.add_argument("--tokenizer-json", required=True)
    parser.add_argument("--gopher", action="store_true")
    parser.add_argument("--tasks", type=int, default=1)
    args = parser.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.formatters import FTFYFormatter, PIIFormatter
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.tokens import DocumentTokenizer
    from datatrove.pipeline.writers import JsonlWriter

    work = Path(args.work)
    config = MinhashConfig()  # 5-grams, 14 buckets x 8 hashes (datatrove's defaults)
    tasks, workers = args.tasks, args.tasks

    def executor(pipeline, name, n=tasks):
        return LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=n,
            workers=min(workers, n),
            logging_dir=str(work / "logs" / name),
            start_method="fork",
        )

    first = [WarcReader(args.input_dir, glob_pattern=args.glob, default_metadata={})]
    if args.gopher:
        first += [GopherRepetitionFilter(), GopherQualityFilter()]
    first += [
        FTFYFormatter(),
        JsonlWriter(str(work / "docs")),
        MinhashDedupSignature(output_folder=str(work / "sigs"), config=config),
    ]
    executor(first, "1-signatures").run()
    executor(
        [
            MinhashDedupBuckets(
                input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=config
            )
        ],
        "2-buckets",
        n=config.num_buckets,
    ).run()
    executor(
        [
            MinhashDedupCluster(
                input_folder=str(work / "buckets"), output_folder=str(work / "remove"), config=config
            )
        ],
        "3-cluster",
        n=1,
    ).run()
    executor(
        [
            JsonlReader(str(work / "docs")),
            MinhashDedupFilter(input_folder=str(work / "remove")),
            PIIFormatter(),
            JsonlWriter(str(work / "kept")),
            DocumentTokenizer(
                output_folder=str(work / "tokens"),
                local_working_dir=str(work / "tok-tmp"),
                tokenizer_name_or_path=args.tokenizer_json,
                eos_token="</s>",
            ),
        ],
        "4-filter-tokenize",
    ).run()

    ids = []
    for path in sorted((work / "kept").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                ids.append(json.loads(line)["id"].strip("<>").removeprefix("urn:uuid:"))
    # DocumentTokenizer writes uint16 token ids (*.ds) plus an index of document ends.
    tokens = sum(path.stat().st_size // 2 for path in (work / "tokens").rglob("*.ds"))
    print(json.dumps({"kept_ids": ids, "tokens": tokens}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
