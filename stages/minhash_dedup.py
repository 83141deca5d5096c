"""MinHash-LSH near-duplicate removal.

Pure core (no Beam):
- ``MinHasher.signature(text, lang)``: shingles are word n-grams of the folded text, or
  character n-grams for Chinese/Japanese (by ``lang`` when present, else by CJK share); no word
  segmenter. Shingle hashes are computed vectorised with a polynomial prefix hash over the code
  point array (any substring hash is O(1) from the prefix sums), then mixed and min-hashed with
  ``num_perm`` multiply-add permutations in numpy blocks. The signature is a
  ``datasketch.LeanMinHash`` (so signatures interoperate with datasketch's Jaccard/LSH tools).
- ``band_keys``: LSH banding, one 9-byte key per band.
- ``choose_bands``: bands x rows for a Jaccard threshold.

Beam (``MinHashDedupStage.expand``): band keys + nodes are shuffled (never text); each bucket
links its members to the bucket's best node (star), candidate edges are verified against the
signature Jaccard estimate, connected components are resolved with large-star/small-star rounds
(``stages.components``), and every non-minimal node of a component is dropped as a duplicate of
the component's best document (the minimal node). Drops are joined back onto the documents.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import apache_beam as beam
import numpy as np

from stages.base import Doc, Params, Stage, path_param
from stages.components import connected_components
from stages.dedup_common import check_policy, fold_codepoints, join_drops, make_node, node_id

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
        # datasketch's own "affine32" permutations for this seed, so a signature equals what
        # MinHash(scheme="affine32").update_batch would give for the same 32-bit shingle hashes.
        # Imported here, not at module level: datasketch pulls in scipy (~1 s), and loading the
        # config imports every stage module.
        from datasketch import MinHash

        self._a, self._b = (
            p[:, None] for p in MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
        )

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


def band_keys(hashvalues: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One key per band: band index + 8-byte hash of that band's rows."""
    rows_of = np.ascontiguousarray(hashvalues[: bands * rows], dtype=np.uint32).reshape(bands, rows)
    return [bytes((i,)) + hashlib.blake2b(rows_of[i].tobytes(), digest_size=8).digest() for i in range(bands)]


def estimated_jaccard(sig_a: bytes, sig_b: bytes, seed: int) -> float:
    """Jaccard estimate from two serialised signatures (raw uint32 hashvalues)."""
    from datasketch import LeanMinHash

    a = LeanMinHash(seed=seed, hashvalues=np.frombuffer(sig_a, dtype=np.uint32), scheme=SCHEME)
    b = LeanMinHash(seed=seed, hashvalues=np.frombuffer(sig_b, dtype=np.uint32), scheme=SCHEME)
    return float(a.jaccard(b))


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
    spill_dir: str | None = path_param()


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

    def keys(self, doc: Doc):
        """Band keys, node and raw signature of one document (None when it has no shingles)."""
        if self.hasher is None:
            self.setup()
        assert self.hasher is not None
        sig = self.hasher.signature(doc.get("text") or "", doc.get("lang"))
        if sig is None:
            return None
        values = sig.hashvalues.astype(np.uint32)
        return (
            band_keys(values, self.bands, self.rows),
            make_node(doc, self.params.survivor),
            values.tobytes(),
        )

    def expand(self, docs, keep_rejected: bool):
        name = self.name
        stage = self
        seed, threshold = self.params.seed, self.params.threshold - self.params.verify_margin

        # Main output: (band key, node); the "sig" output: (node, signature bytes).
        @beam.typehints.with_output_types(tuple[bytes, bytes])
        class Sign(beam.DoFn):
            def setup(self):
                stage.setup()

            def process(self, doc):
                out = stage.keys(doc)
                if out is None:
                    return
                keys, node, sig = out
                for key in keys:
                    yield key, node
                yield beam.pvalue.TaggedOutput("sig", (node, sig))

        signed = docs | f"{name}:sign" >> beam.ParDo(Sign()).with_outputs("sig", main="bands")
        # Star per bucket: every member linked to the bucket's best node; edges are (member, best).
        edges = (
            signed.bands
            | f"{name}:buckets" >> beam.GroupByKey()
            | f"{name}:stars" >> beam.FlatMap(_star_edges)
            | f"{name}:distinct_edges" >> beam.Distinct()
        )
        if self.params.verify:
            edges = _verify(edges, signed.sig, name, seed, threshold)
        drops = connected_components(
            edges, f"{name}:cc", self.params.cc_rounds
        ) | f"{name}:drops" >> beam.Map(lambda kv: (node_id(kv[0]), node_id(kv[1])))
        return join_drops(docs, drops, name, "near_duplicate", keep_rejected, self.params.spill_dir)


def _star_edges(kv) -> Iterable[tuple[bytes, bytes]]:
    members = set(kv[1])
    if len(members) < 2:
        return ()
    best = min(members)
    return ((m, best) for m in members if m != best)


def _verify(edges, sigs, name: str, seed: int, threshold: float):
    """Keep candidate edges whose estimated Jaccard reaches the threshold. Signatures are joined
    to edges by node (two CoGroupByKeys), so no step holds more than one node's edges."""

    def attach_first(kv):
        _, g = kv
        sig = next(iter(g["sig"]), None)
        for other in g["edge"]:
            yield other, (kv[0], sig)

    def check(kv):
        node, g = kv
        sig = next(iter(g["sig"]), None)
        for other, other_sig in g["edge"]:
            if (
                sig is not None
                and other_sig is not None
                and estimated_jaccard(sig, other_sig, seed) >= threshold
            ):
                yield other, node

    by_member = (
        {"sig": sigs, "edge": edges}
        | f"{name}:join_sig_a" >> beam.CoGroupByKey()
        | f"{name}:attach_a" >> beam.FlatMap(attach_first)
    )
    return (
        {"sig": sigs, "edge": by_member}
        | f"{name}:join_sig_b" >> beam.CoGroupByKey()
        | f"{name}:check" >> beam.FlatMap(check)
    )
