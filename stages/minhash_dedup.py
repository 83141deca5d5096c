"""MinHash-LSH near-duplicate removal.

Pure core (no Beam):
- ``MinHasher.signature(text, lang)``: shingles are word n-grams of the folded text, or
  character n-grams for Chinese/Japanese (by ``lang`` when present, else by CJK share); no word
  segmenter. Shingle hashes are computed vectorised with a polynomial prefix hash over the code
  point array (any substring hash is O(1) from the prefix sums), then mixed and min-hashed with
  ``num_perm`` multiply-add permutations in numpy blocks. The signature is a
  ``datasketch.LeanMinHash`` (so signatures interoperate with datasketch's Jaccard/LSH tools).
- ``band_key_matrix``: LSH banding, one 8-byte key per band (splitmix64 over the band index and
  its rows), vectorised over many signatures; ``band_keys`` is the same for one signature.
- ``choose_bands``: bands x rows for a Jaccard threshold.

Beam (``MinHashDedupStage.expand``): each document's band keys, each with a 12-byte digest of
its node, are shuffled in packed blobs (``dedup_common.group_by_key_prefix``; never text); its
signature goes to a per-bundle Arrow file. Each band bucket links its members to the bucket's
smallest digest (star); only the signatures of documents in a candidate pair are read back, and
they turn candidate edges into verified edges between nodes (signature Jaccard estimate).
Connected components are resolved with large-star/small-star rounds (``stages.components``), and
every non-minimal node of a component is dropped as a duplicate of the component's best
document (the minimal node). Drops are joined back onto the documents.

Index mode: with ``save_index`` the signature files become ``OUTPUT/minhash_index/`` (every
document that reached the step) and the step's drops ``minhash_index/duplicates/`` (id ->
the kept document it duplicates). A later run lists it in ``against``: each index file is read
in Arrow batches and banded vectorised, and only entries sharing a band key with one of the new
documents enter the band shuffle, as nodes of rank ``INDEXED_RANK``, which sort before every new
document: a new near-duplicate of an indexed document is dropped and indexed documents never
are. When the indexed root of a cluster was itself dropped in its run, ``duplicate_of`` names
the document kept in its place (from ``duplicates``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.ipc
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from stages.base import Doc, Params, RunContext, Stage, path_list_param, path_param
from stages.beam import STATS, BundleCounts, CpuClock
from stages.components import connected_components
from stages.dedup_common import (
    INDEXED_RANK,
    KeySet,
    RowFile,
    WriteArrowRows,
    check_index_locations,
    check_join,
    check_policy,
    contains,
    fixed_width,
    fold_codepoints,
    group_by_key_prefix,
    index_batches,
    join_drops,
    make_node,
    node_digest,
    node_id,
    shards_in,
    spill_location,
)
from stages.dedup_common import index_files as _index_files

if TYPE_CHECKING:
    from datasketch import LeanMinHash

_SPACE = 32
_U64 = np.uint64
SCHEME = "affine32"  # datasketch permutation scheme the signatures follow
# Block of shingles min-hashed at once: num_perm x block uint32 = 4 MB at 128 x 8192.
_BLOCK = 8192


def _is_cjk(cps: np.ndarray) -> np.ndarray:
    """Han, kana and CJK compatibility ranges (scripts written without spaces)."""
    return (
        ((cps >= 0x3040) & (cps <= 0x30FF))
        | ((cps >= 0x3400) & (cps <= 0x4DBF))
        | ((cps >= 0x4E00) & (cps <= 0x9FFF))
        | ((cps >= 0xF900) & (cps <= 0xFAFF))
        | ((cps >= 0x20000) & (cps <= 0x2FA1F))
    )


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3 32-bit finaliser, the pre-mix of datasketch's affine32 scheme."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the (linear) polynomial hash over all 64 bits."""
    x = x ^ (x >> _U64(30))
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


def choose_bands(threshold: float, num_perm: int, recall: float = 0.98) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm such that a pair at exactly ``threshold``
    becomes a candidate with probability >= ``recall``, picking among those the fewest expected
    candidates below the threshold (area under the S-curve on [0, threshold]). Candidates are
    verified against the signature afterwards, so extra candidates cost time, not precision."""
    s_lo = np.linspace(0.0, threshold, 401)
    best: tuple[float, int, int] | None = None
    for bands in range(1, min(num_perm, 255) + 1):
        for rows in range(1, num_perm // bands + 1):
            if candidate_probability(threshold, bands, rows) < recall:
                continue
            fp = float(np.trapezoid(1 - (1 - s_lo**rows) ** bands, s_lo))
            if best is None or fp < best[0] - 1e-12:
                best = (fp, bands, rows)
    if best is None:
        raise ValueError(f"no bands x rows <= {num_perm} reaches recall {recall} at threshold {threshold}")
    return best[1], best[2]


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two documents of this Jaccard share at least one band."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) uint32 pairs of datasketch's "affine32" scheme for ``seed``: ``a`` odd, both
    drawn from numpy's legacy RandomState in that order, so a signature equals what
    ``MinHash(scheme="affine32", seed=seed).update_batch`` gives for the same 32-bit shingle
    hashes (tested). Drawn here rather than by datasketch, whose import pulls in scipy (~1 s in
    every worker process)."""
    rng = np.random.RandomState(seed)
    odd_half = rng.randint(0, 1 << 31, num_perm, dtype=np.uint32)
    offsets = rng.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    with np.errstate(over="ignore"):
        return odd_half * np.uint32(2) + np.uint32(1), offsets


class MinHasher:
    """Signatures for one parameter set; deterministic for a seed on every machine."""

    def __init__(
        self,
        num_perm: int = 128,
        shingle_size: int = 5,
        char_shingle_size: int = 5,
        seed: int = 1,
        char_langs: Iterable[str] = ("zh", "ja"),
        cjk_share: float = 0.3,
    ):
        if num_perm < 1 or shingle_size < 1 or char_shingle_size < 1:
            raise ValueError("num_perm and shingle sizes must be >= 1")
        self.num_perm = num_perm
        self.shingle_size = shingle_size
        self.char_shingle_size = char_shingle_size
        self.seed = seed
        self.char_langs = frozenset(lang.lower() for lang in char_langs)
        self.cjk_share = cjk_share
        rng = np.random.default_rng(seed)
        base = int(rng.integers(1 << 62, dtype=np.int64)) * 2 + 1  # odd -> invertible mod 2^64
        self._base = base
        self._base_inv = pow(base, -1, 1 << 64)
        self._pow = np.ones(1, dtype=_U64)
        self._pow_inv = np.ones(1, dtype=_U64)
        self._a, self._b = (p[:, None] for p in affine32_permutations(num_perm, seed))

    # -- shingling

    def _powers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """B^i and B^-i mod 2^64 for i < n, cached and grown geometrically."""
        if len(self._pow) < n:
            size = max(n, 2 * len(self._pow))
            with np.errstate(over="ignore"):
                self._pow = np.cumprod(np.r_[_U64(1), np.full(size - 1, self._base, dtype=_U64)], dtype=_U64)
                self._pow_inv = np.cumprod(
                    np.r_[_U64(1), np.full(size - 1, self._base_inv, dtype=_U64)], dtype=_U64
                )
        return self._pow[:n], self._pow_inv[:n]

    def uses_chars(self, cps: np.ndarray, lang: str | None) -> bool:
        """Character shingles for Chinese/Japanese: by ``lang`` when known, else CJK share."""
        if lang:
            return lang.lower().replace("_", "-").split("-")[0].removeprefix("__label__") in self.char_langs
        letters = np.count_nonzero(cps != _SPACE)
        return letters > 0 and np.count_nonzero(_is_cjk(cps)) >= self.cjk_share * letters

    def spans(self, cps: np.ndarray, chars: bool) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) code point offsets of every shingle in ``cps`` (folded text)."""
        n = len(cps)
        if chars:
            k = self.char_shingle_size
            if n <= k:
                return np.zeros(1, np.int64), np.full(1, n, np.int64)
            starts = np.arange(n - k + 1, dtype=np.int64)
            return starts, starts + k
        is_word = cps != _SPACE
        edges = np.diff(np.r_[False, is_word, False].astype(np.int8))
        w_start = np.flatnonzero(edges == 1)
        w_end = np.flatnonzero(edges == -1)
        k = self.shingle_size
        if len(w_start) <= k:
            return w_start[:1], w_end[-1:]
        return w_start[: len(w_start) - k + 1], w_end[k - 1 :]

    def shingle_hashes(self, text: str, lang: str | None = None) -> np.ndarray:
        """32-bit hashes of the document's shingles (empty for a text with nothing to shingle)."""
        cps = fold_codepoints(text)
        if len(cps) == 0:
            return np.zeros(0, dtype=np.uint32)
        chars = self.uses_chars(cps, lang)
        if chars:  # CJK: spacing is not meaningful, shingle the characters alone
            cps = cps[cps != _SPACE]
            if len(cps) == 0:
                return np.zeros(0, dtype=np.uint32)
        starts, ends = self.spans(cps, chars)
        powers, inv_powers = self._powers(len(cps) + 1)
        with np.errstate(over="ignore"):
            prefix = np.zeros(len(cps) + 1, dtype=_U64)
            # +1 so code point 0 still changes the hash; uint64 arithmetic wraps mod 2^64.
            np.cumsum((cps.astype(_U64) + _U64(1)) * powers[:-1], out=prefix[1:])
            # Top 32 bits of the mixed 64-bit hash: datasketch's affine32 scheme takes 32-bit input.
            return (_mix64((prefix[ends] - prefix[starts]) * inv_powers[starts]) >> _U64(32)).astype(
                np.uint32
            )

    # -- min-hashing

    def hashvalues(self, hashes: np.ndarray) -> np.ndarray:
        """uint32 MinHash values of 32-bit shingle hashes, one per permutation: datasketch's
        affine32 scheme (murmur3 fmix32 pre-mix, then a*h+b mod 2^32), vectorised in blocks."""
        sig = np.full(self.num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
        with np.errstate(over="ignore"):
            mixed = _fmix32(hashes)
            for lo in range(0, len(mixed), _BLOCK):
                block = self._a * mixed[None, lo : lo + _BLOCK]
                block += self._b
                np.minimum(sig, block.min(axis=1), out=sig)
        return sig

    def signature(self, text: str, lang: str | None = None) -> LeanMinHash | None:
        """The document's MinHash, or None when it has no shingles (empty after folding)."""
        hashes = self.shingle_hashes(text, lang)
        if len(hashes) == 0:
            return None
        from datasketch import LeanMinHash

        return LeanMinHash(seed=self.seed, hashvalues=self.hashvalues(hashes), scheme=SCHEME)


BAND_KEY_BYTES = 8
_BAND_SEED = _U64(0x9E3779B97F4A7C15)
_BAND_STEP = _U64(0x100000001B3)


def band_key_matrix(values: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 LSH band keys of n signatures ((n, >= bands*rows) uint32 hashvalues).
    A band's key hashes its index and its rows: start from the mixed band index, then fold in
    each row value, mixing after each step (splitmix64). Vectorised over documents and bands, so
    an index of earlier signatures is banded without a Python call per document."""
    n = values.shape[0]
    rows_of = np.ascontiguousarray(values[:, : bands * rows], dtype=np.uint32).reshape(n, bands, rows)
    with np.errstate(over="ignore"):
        start = _mix64(np.arange(1, bands + 1, dtype=_U64) * _BAND_SEED)
        keys = np.repeat(start[None, :], n, axis=0)
        for j in range(rows):
            keys = _mix64(keys * _BAND_STEP + rows_of[:, :, j].astype(_U64) + _U64(1))
    return keys


def key_bytes(keys: np.ndarray) -> bytes:
    """Band keys (uint64, any shape) as their big-endian bytes, BAND_KEY_BYTES each, row by row."""
    return np.ascontiguousarray(keys, dtype=">u8").tobytes()


def band_keys(hashvalues: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One 8-byte key per band of one signature (``band_key_matrix`` of a single row)."""
    data = key_bytes(band_key_matrix(np.asarray(hashvalues)[None, :], bands, rows))
    return [data[i : i + BAND_KEY_BYTES] for i in range(0, len(data), BAND_KEY_BYTES)]


def estimated_jaccard(sig_a: bytes, sig_b: bytes) -> float:
    """Jaccard estimate from two serialised signatures (raw uint32 hashvalues): the share of
    equal values, as datasketch's ``MinHash.jaccard``."""
    a, b = np.frombuffer(sig_a, dtype=np.uint32), np.frombuffer(sig_b, dtype=np.uint32)
    return float(np.count_nonzero(a == b)) / len(a)


# ---------------------------------------------------------------- signature files and the index

INDEX_KIND = "minhash_index"
# The step's drops (id -> the kept document), saved with the index: a later run names the kept
# document when the indexed root of a cluster was dropped in its own run.
DUPLICATES_KIND = f"{INDEX_KIND}/duplicates"
# Bump when folding, shingling or hashing changes what a signature is for the same parameters.
SIGNATURE_VERSION = "1"


@dataclasses.dataclass
class MinHashDedupParams(Params):
    num_perm: int = 128
    # Jaccard similarity from which two documents are near-duplicates.
    threshold: float = 0.8
    # LSH banding; 0 derives both from threshold and num_perm (choose_bands).
    bands: int = 0
    rows: int = 0
    # Word n-grams for space-delimited text, character n-grams for char_langs / CJK text.
    shingle_size: int = 5
    char_shingle_size: int = 5
    char_langs: list[str] = dataclasses.field(default_factory=lambda: ["zh", "ja"])
    seed: int = 1
    # Check every LSH candidate pair against the signature Jaccard estimate before linking it,
    # accepting estimates >= threshold - verify_margin: a 128-permutation estimate at 0.8 has a
    # standard deviation of ~0.035, so a zero margin loses ~1/3 of pairs just above threshold.
    verify: bool = True
    verify_margin: float = 0.05
    # Which document of a cluster survives: quality_score | smallest_id | longest (ties -> id).
    survivor: str = "quality_score"
    # Large-star/small-star round pairs before the final label check (leftovers are resolved
    # exactly on the small residual graph, so this only trades shuffles for residual size).
    cc_rounds: int = 4
    # How decisions reach the documents: auto (spill on the DirectRunner, a shuffle elsewhere),
    # shuffle (CoGroupByKey by id), or spill (text waits in files under spill_dir, default the
    # run's work folder; decisions are a side input).
    join: str = "auto"
    spill_dir: str | None = path_param()
    # Save the signatures of every document reaching this stage to OUTPUT/minhash_index/, so a
    # later run (another crawl) can be deduplicated against this one with ``against``.
    save_index: bool = False
    # Earlier runs' outputs (or their minhash_index folders): a document near-duplicate to an
    # indexed one is dropped as near_duplicate with duplicate_of = the indexed id.
    against: list[str] = path_list_param()

    def signature_identity(self) -> dict[str, str]:
        """What must match for signatures of two runs to be comparable."""
        return {
            "num_perm": str(self.num_perm),
            "seed": str(self.seed),
            "shingle_size": str(self.shingle_size),
            "char_shingle_size": str(self.char_shingle_size),
            "char_langs": ",".join(sorted(lang.lower() for lang in self.char_langs)),
            "scheme": SCHEME,
            "signature_version": SIGNATURE_VERSION,
        }

    def validate(self) -> None:
        """Each ``against`` location must hold an index built with the same signature settings."""
        check_join(self.join)
        check_index_locations(
            self.against,
            INDEX_KIND,
            self.signature_identity(),
            "MinHash index",
            "minhash_dedup.save_index: true",
        )


def signature_schema(params: MinHashDedupParams) -> pa.Schema:
    """Signature files (and the saved index): id, 8-byte survivor rank, raw uint32 hashvalues."""
    return pa.schema(
        [("id", pa.string()), ("rank", pa.binary(8)), ("signature", pa.binary(4 * params.num_perm))],
        metadata=params.signature_identity(),
    )


def duplicates_schema() -> pa.Schema:
    return pa.schema([("id", pa.string()), ("duplicate_of", pa.string())])


def index_files(location: str) -> list[str]:
    """Index shards at ``location``: a run's output folder or its minhash_index folder."""
    return _index_files(location, INDEX_KIND)


def duplicates_files(location: str) -> list[str]:
    """The saved drops next to the index at ``location`` (none for an index saved before them)."""
    return shards_in(FileSystems.join(location, DUPLICATES_KIND)) or shards_in(
        FileSystems.join(location, "duplicates")
    )


def read_duplicates(locations: list[str]) -> dict[str, str]:
    """id -> kept document, from the saved drops of every index location."""
    survivors: dict[str, str] = {}
    for location in locations:
        for path in duplicates_files(location):
            with FileSystems.open(path, compression_type="uncompressed") as handle:
                table = pa.ipc.open_stream(pa.PythonFile(handle, mode="r")).read_all()
            survivors.update(
                zip(table.column("id").to_pylist(), table.column("duplicate_of").to_pylist(), strict=True)
            )
    return survivors


def read_signatures(path: str, identity: dict[str, str]) -> Iterator[tuple[bytes, bytes]]:
    """``(node, signature)`` of every row of one of this run's signature files."""
    for batch in index_batches(path, identity):
        ids = batch.column("id").to_pylist()
        ranks = batch.column("rank").to_pylist()
        for doc_id, rank, sig in zip(ids, ranks, batch.column("signature").to_pylist(), strict=True):
            yield rank + doc_id.encode("utf-8"), sig


class MinHashDedupStage(Stage):
    name = "minhash_dedup"
    Params = MinHashDedupParams
    reasons = ("near_duplicate",)
    is_global = True

    def __init__(self, params: MinHashDedupParams | None = None):
        super().__init__(params)
        p = self.params
        check_policy(p.survivor)
        if not 0.0 < p.threshold <= 1.0:
            raise ValueError("minhash_dedup.threshold must be in (0, 1]")
        if (p.bands == 0) != (p.rows == 0):
            raise ValueError("minhash_dedup: set both bands and rows, or neither (derived from threshold)")
        self.bands, self.rows = (p.bands, p.rows) if p.bands else choose_bands(p.threshold, p.num_perm)
        if self.bands * self.rows > p.num_perm:
            raise ValueError(
                f"minhash_dedup: bands*rows={self.bands * self.rows} exceeds num_perm={p.num_perm}"
            )
        if self.bands > 255:
            raise ValueError("minhash_dedup: at most 255 bands")
        self.hasher: MinHasher | None = None

    def setup(self) -> None:
        p = self.params
        self.hasher = MinHasher(p.num_perm, p.shingle_size, p.char_shingle_size, p.seed, p.char_langs)

    def sign(self, doc: Doc) -> tuple[bytes, np.ndarray] | None:
        """Node and uint32 hashvalues of one document (None when it has no shingles)."""
        if self.hasher is None:
            self.setup()
        assert self.hasher is not None
        hashes = self.hasher.shingle_hashes(doc.get("text") or "", doc.get("lang"))
        if len(hashes) == 0:
            return None
        return make_node(doc, self.params.survivor), self.hasher.hashvalues(hashes)

    def shuffle_records(self, doc: Doc) -> list[bytes]:
        """What the band shuffle carries for one document (none when it has nothing to shingle)."""
        signed = self.sign(doc)
        if signed is None:
            return []
        node, values = signed
        return self.batch_records([node], band_key_matrix(values[None, :], self.bands, self.rows))

    def expand(self, docs, keep_rejected: bool, ctx: RunContext):
        name, p = self.name, self.params
        identity = p.signature_identity()
        # Signatures wait in files, not in the shuffle: only candidates' signatures are read back.
        sig_dir = ctx.staging(INDEX_KIND) if p.save_index else ctx.work_dir(name)
        signed = docs | f"{name}:sign" >> beam.ParDo(
            _Sign(self, sig_dir, collect_keys=bool(p.against))
        ).with_outputs("files", "keys", STATS, main="bands")
        ctx.stats.append(signed[STATS])
        if p.save_index:
            ctx.files.append(signed.files)
            ctx.schemas[INDEX_KIND] = signature_schema(p)
        sources = signed.files | f"{name}:sig_paths" >> beam.Map(lambda info: info["tmp"])
        bands = signed.bands
        indexed = None
        if p.against:
            keys = signed.keys | f"{name}:key_set" >> beam.CombineGlobally(KeySet())
            matched = (
                docs.pipeline
                | f"{name}:against" >> beam.Create(p.against)
                | f"{name}:index_files" >> beam.FlatMap(index_files)
                | f"{name}:spread_index" >> beam.Reshuffle()
                | f"{name}:match_index"
                >> beam.ParDo(_MatchIndex(self, identity), beam.pvalue.AsSingleton(keys)).with_outputs(
                    "signatures", main="bands"
                )
            )
            bands = (bands, matched.bands) | f"{name}:all_bands" >> beam.Flatten()
            indexed = matched.signatures
        spill = spill_location(p.join, p.spill_dir, ctx, name)
        # Candidate pairs: members of one band bucket, linked to the bucket's smallest digest.
        candidates = (
            group_by_key_prefix(bands, f"{name}:buckets", BAND_KEY_BYTES, spill)
            | f"{name}:stars" >> beam.FlatMap(_star_edges)
            | f"{name}:distinct_edges" >> beam.Distinct()
        )
        payload = _candidate_signatures(sources, candidates, name, identity, spill is not None, indexed)
        threshold = p.threshold - p.verify_margin if p.verify else None
        edges = _resolve_edges(candidates, payload, name, threshold, lean=spill is not None)
        drops = connected_components(edges, f"{name}:cc", p.cc_rounds) | f"{name}:drops" >> beam.ParDo(
            _Drops(name, p.against)
        ).with_outputs(STATS, main="drops")
        ctx.stats.append(drops[STATS])
        if p.save_index:
            ctx.files.append(
                drops.drops
                | f"{name}:save_duplicates"
                >> beam.ParDo(
                    WriteArrowRows(DUPLICATES_KIND, ctx.staging(DUPLICATES_KIND), duplicates_schema())
                )
            )
            ctx.schemas[DUPLICATES_KIND] = duplicates_schema()
        return join_drops(docs, drops.drops, name, "near_duplicate", keep_rejected, spill, ctx)

    def batch_records(
        self, nodes: list[bytes], keys: np.ndarray, hit: np.ndarray | None = None
    ) -> list[bytes]:
        """Band records (band key + node digest) of several documents: ``keys`` is their
        (n, bands) ``band_key_matrix``; ``hit`` (same shape, optional) keeps only some bands."""
        data = key_bytes(keys)
        width = BAND_KEY_BYTES * self.bands
        out: list[bytes] = []
        for i, node in enumerate(nodes):
            digest = node_digest(node)
            row = data[i * width : (i + 1) * width]
            wanted = range(self.bands) if hit is None else np.flatnonzero(hit[i])
            out.extend(row[b * BAND_KEY_BYTES : (b + 1) * BAND_KEY_BYTES] + digest for b in wanted)
        return out


class _Sign(beam.DoFn):
    """doc -> band records (main output); signatures go to one Arrow file per bundle, whose
    description (as pipeline.writer expects it) is emitted on the ``files`` output. Documents
    are banded a few thousand at a time (``band_key_matrix``), when their signatures are written;
    with ``collect_keys`` each bundle's band keys also go out on ``keys`` (dedup_common.KeySet)."""

    def __init__(self, stage: MinHashDedupStage, sig_dir: str, collect_keys: bool = False):
        self.stage = stage
        self.sig_dir = sig_dir
        self.collect_keys = collect_keys
        self.schema = signature_schema(stage.params)

    def setup(self):
        self.stage.setup()
        self.clock = CpuClock(f"{self.stage.name}.cpu_ns")

    def start_bundle(self):
        self.rows: dict[str, list] = {"id": [], "rank": [], "signature": []}
        self.nodes: list[bytes] = []
        self.file = RowFile(INDEX_KIND, self.sig_dir, self.schema)
        self.keys: list[np.ndarray] = []
        self.tally = BundleCounts()

    def process(self, doc):
        started = self.clock.start()
        signed = self.stage.sign(doc)
        if signed is not None:  # None: nothing to shingle, it cannot be a near-duplicate
            node, values = signed
            self.nodes.append(node)
            self.rows["id"].append(str(doc["id"]))
            self.rows["rank"].append(node[:8])
            self.rows["signature"].append(values.astype(np.uint32).tobytes())
        self.clock.stop(started, self.tally)
        if len(self.nodes) < 4096:
            return ()
        # A flush (one call in 4096) is timed exactly: the sampled clock would never see it.
        started = time.thread_time_ns()
        records = self._flush()
        self.tally.add(f"{self.stage.name}.cpu_ns", time.thread_time_ns() - started)
        return records

    def _flush(self) -> list[bytes]:
        """Write the buffered signatures and band them together; returns their band records."""
        if not self.nodes:
            return []
        batch = pa.record_batch(
            [pa.array(self.rows[f.name], f.type) for f in self.schema], schema=self.schema
        )
        self.file.write_batch(batch)
        values = fixed_width(batch.column("signature"), 4 * self.stage.params.num_perm).view(np.uint32)
        keys = band_key_matrix(values, self.stage.bands, self.stage.rows)
        if self.collect_keys:
            self.keys.append(keys.ravel())
        nodes, self.nodes = self.nodes, []
        self.rows = {key: [] for key in self.rows}
        return self.stage.batch_records(nodes, keys)

    def finish_bundle(self):
        started = time.thread_time_ns()
        for record in self._flush():
            yield GlobalWindows.windowed_value(record)
        info = self.file.close()
        if info is not None:
            yield beam.pvalue.TaggedOutput("files", GlobalWindows.windowed_value(info))
        if self.keys:
            yield beam.pvalue.TaggedOutput("keys", GlobalWindows.windowed_value(np.concatenate(self.keys)))
        self.tally.add(f"{self.stage.name}.cpu_ns", time.thread_time_ns() - started)
        yield from self.tally.emit_windowed()


class _MatchIndex(beam.DoFn):
    """(index file, this run's band keys) -> band records of the index entries that share a band
    key with a document of this run (only those bands), and on ``signatures`` their
    ``(digest, (node, signature))`` for the candidate check. Entries are indexed nodes."""

    def __init__(self, stage: MinHashDedupStage, identity: dict[str, str]):
        self.stage = stage
        self.identity = identity

    def process(self, path, keys):
        width = 4 * self.stage.params.num_perm
        for batch in index_batches(path, self.identity):
            values = fixed_width(batch.column("signature"), width).view(np.uint32)
            band = band_key_matrix(values, self.stage.bands, self.stage.rows)
            hit = contains(keys, band)
            rows = np.flatnonzero(hit.any(axis=1))
            if len(rows) == 0:
                continue
            ids = batch.column("id").take(pa.array(rows)).to_pylist()
            nodes = [INDEXED_RANK + doc_id.encode("utf-8") for doc_id in ids]
            yield from self.stage.batch_records(nodes, band[rows], hit[rows])
            for node, row in zip(nodes, rows, strict=True):
                signature = (node, values[row].tobytes())
                yield beam.pvalue.TaggedOutput("signatures", (node_digest(node), signature))


class _ReadSignatures(beam.DoFn):
    """signature file -> (digest, (node, signature)), only for wanted digests when a ``wanted``
    side input is given."""

    def __init__(self, identity: dict[str, str]):
        self.identity = identity
        self._wanted_from: Any = None
        self._wanted: set[bytes] = set()

    def process(self, path, wanted=None):
        if wanted is not None and wanted is not self._wanted_from:
            self._wanted_from, self._wanted = wanted, set(wanted)
        for node, sig in read_signatures(path, self.identity):
            digest = node_digest(node)
            if wanted is None or digest in self._wanted:
                yield digest, (node, sig)


def _candidate_signatures(sources, edges, name: str, identity: dict[str, str], lean: bool, indexed=None):
    """(digest, (node, signature)) for every digest of a candidate edge, read from this run's
    signature files (``sources``: their paths); ``indexed`` adds those of matched index
    entries. ``lean`` passes the candidate digests as a side input (one machine: nothing else is
    held in memory); otherwise every signature is joined to the candidates with a shuffle (a
    distributed runner's way)."""
    digests = (
        edges | f"{name}:endpoints" >> beam.FlatMap(lambda e: e) | f"{name}:candidates" >> beam.Distinct()
    )
    sources = sources | f"{name}:spread_signatures" >> beam.Reshuffle()
    side = {"wanted": beam.pvalue.AsList(digests)} if lean else {}
    signatures = sources | f"{name}:read_signatures" >> beam.ParDo(_ReadSignatures(identity), **side)
    if indexed is not None:
        signatures = (signatures, indexed) | f"{name}:with_indexed" >> beam.Flatten()
    if lean:
        return signatures
    wanted = digests | f"{name}:mark_wanted" >> beam.Map(lambda d: (d, None))
    return (
        {"sig": signatures, "wanted": wanted}
        | f"{name}:join_wanted" >> beam.CoGroupByKey()
        | f"{name}:keep_wanted"
        >> beam.FlatMap(lambda kv: [(kv[0], s) for s in kv[1]["sig"][:1]] if kv[1]["wanted"] else [])
    )


def _star_edges(members: list[bytes]) -> Iterable[tuple[bytes, bytes]]:
    """One band bucket (node digests) -> edges from every member to its smallest member."""
    distinct = set(members)
    best = min(distinct)
    return ((m, best) for m in distinct if m != best)


def _resolve_edges(edges, payload, name: str, threshold: float | None, lean: bool):
    """Candidate edges between digests -> edges between nodes, keeping only those whose
    estimated Jaccard reaches ``threshold`` (None: keep all). ``lean``: the candidates'
    signatures are one side-input dict (one machine). Otherwise they are joined to edges by
    digest with two CoGroupByKeys, so no step holds more than one node's edges."""

    def accept(sig_a: bytes, sig_b: bytes) -> bool:
        return threshold is None or estimated_jaccard(sig_a, sig_b) >= threshold

    if lean:

        def check_pair(edge, table):
            a, b = table.get(edge[0]), table.get(edge[1])
            if a is not None and b is not None and accept(a[1], b[1]):
                yield a[0], b[0]

        return edges | f"{name}:check" >> beam.FlatMap(check_pair, beam.pvalue.AsDict(payload))

    def attach_first(kv):
        _, g = kv
        first = next(iter(g["sig"]), None)
        if first is not None:
            for other in g["edge"]:
                yield other, first

    def check(kv):
        _, g = kv
        second = next(iter(g["sig"]), None)
        if second is None:
            return
        node, sig = second
        for other_node, other_sig in g["edge"]:
            if accept(sig, other_sig):
                yield other_node, node

    by_second = (
        {"sig": payload, "edge": edges}
        | f"{name}:join_sig_a" >> beam.CoGroupByKey()
        | f"{name}:attach_a" >> beam.FlatMap(attach_first)
    )
    return (
        {"sig": payload, "edge": by_second}
        | f"{name}:join_sig_b" >> beam.CoGroupByKey()
        | f"{name}:check" >> beam.FlatMap(check)
    )


class _Drops(beam.DoFn):
    """(node, component root) -> (id, duplicate_of) for this run's documents; indexed nodes are
    never dropped (they are not in this run), and drops of an indexed root are counted. An
    indexed root that its own run dropped is replaced by the document kept in its place (the
    index's saved duplicates, read once per worker when the first such root comes)."""

    def __init__(self, name: str, against: list[str] = ()):
        self.name = name
        self.against = list(against)
        self.survivors: dict[str, str] | None = None

    def start_bundle(self):
        self.tally = BundleCounts()

    def process(self, element):
        node, root = element
        if node[:8] == INDEXED_RANK:
            return
        root_id = node_id(root)
        if root[:8] == INDEXED_RANK:
            self.tally.add(f"{self.name}.count.duplicate_of_index")
            if self.survivors is None:
                self.survivors = read_duplicates(self.against)
            root_id = self.survivors.get(root_id, root_id)
        yield node_id(node), root_id

    def finish_bundle(self):
        yield from self.tally.emit_windowed()
