"""Wikipedia XML dumps as documents: a small dump excerpt written here in the MediaWiki export
format (bz2, as dumps are published), read through the pipeline's readers and the quality CLI."""

from __future__ import annotations

import bz2
import io
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.inputs import documents_in
from pipeline.readers import input_format, read_file
from pipeline.wiki_dump import read_wiki_dump, wikitext_to_text
from stages.base import Drop

# Every test here runs whole pipelines (or loads a large vocabulary): `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


REPO = Path(__file__).resolve().parents[1]
NS = "http://www.mediawiki.org/xml/export-0.10/"

ARTICLE = """{{Infobox settlement
| name = 北京市 | image = {{nested|x}}
}}
'''北京市'''，简称'''京'''，是[[中华人民共和国]]的[[首都]]<ref name="law">《宪法》</ref>，\
也是全国的[[政治中心|政治]]、文化中心。<!-- editor note -->
[[File:Beijing skyline.jpg|thumb|北京的[[天际线]]]]
== 历史 ==
北京有三千多年的建城史&amp;八百多年的建都史。<ref>{{cite web|url=http://x.org}}</ref>
* 元朝称大都
* 明清两代定都于此，见[https://example.org 官方网站]。
{| class="wikitable"
|-
| 人口 || 2189万
|}
[[Category:中国城市]]
[[分类:直辖市]]"""


def _page(page_id: int, title: str, ns: int, text: str, redirect: str | None = None) -> str:
    redirect_tag = f'<redirect title="{redirect}" />' if redirect else ""
    return (
        f"<page><title>{title}</title><ns>{ns}</ns><id>{page_id}</id>{redirect_tag}"
        f"<revision><id>{page_id}0</id><model>wikitext</model><format>text/x-wiki</format>"
        f'<text bytes="{len(text.encode())}" xml:space="preserve">{_escape(text)}</text></revision></page>'
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dump_bytes() -> bytes:
    pages = [
        _page(1, "北京市", 0, ARTICLE),
        _page(2, "北京", 0, "#REDIRECT [[北京市]]", redirect="北京市"),
        _page(3, "Talk:北京市", 1, "关于北京市条目的讨论。"),
        _page(4, "Template:Infobox", 10, "{{{name}}}"),
        _page(5, "上海市", 0, "'''上海市'''是中国的[[直辖市]]之一，位于长江入海口。"),
        _page(6, "空条目", 0, "{{stub}}"),
    ]
    xml = (
        f'<mediawiki xmlns="{NS}" version="0.10" xml:lang="zh"><siteinfo><sitename>维基百科</sitename>'
        f'<namespaces><namespace key="0" case="first-letter" /></namespaces></siteinfo>{"".join(pages)}'
        "</mediawiki>"
    )
    return bz2.compress(xml.encode("utf-8"))


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("a{{b{{c}}d}}e", "ae"),  # nested
        ("a}}b{{c", "a}}b"),  # a close mark outside every span is text; an unclosed span runs to the end
        ("a{{b}}}c", "a}c"),
        ("x{|t\n|-\n|}y|}z", "xy|}z"),
    ],
)
def test_nested_spans_are_removed(text, kept):
    from pipeline.wiki_dump import _remove_nested

    marks = ("{|", "|}") if "{|" in text else ("{{", "}}")
    assert _remove_nested(text, *marks) == kept


def test_wikitext_to_plain_text():
    text = wikitext_to_text(ARTICLE)
    assert text.startswith("北京市，简称京，是中华人民共和国的首都，也是全国的政治、文化中心。")
    assert "北京有三千多年的建城史&八百多年的建都史。" in text
    assert "元朝称大都" in text and "见官方网站。" in text and "\n历史\n" in text
    for markup in ("{{", "}}", "[[", "]]", "<ref", "Infobox", "宪法", "editor note", "wikitable", "2189万"):
        assert markup not in text, markup
    for gone in ("Beijing skyline", "天际线", "中国城市", "直辖市"):
        assert gone not in text, gone


def test_dump_reader_keeps_articles_and_counts_the_rest(tmp_path):
    path = tmp_path / "zhwiki-20240501-pages-articles1.xml-p1p41242.bz2"
    path.write_bytes(dump_bytes())
    assert input_format(str(path)) == "wiki" and input_format("enwiki-latest-pages-articles.xml") == "wiki"
    with open(path, "rb") as raw:
        items = list(read_file(raw, str(path), "wiki"))
    docs = [i for i in items if isinstance(i, dict)]
    drops = sorted(i.reason for i in items if isinstance(i, Drop))
    assert [d["url"] for d in docs] == ["北京市", "上海市"]
    assert [d["id"] for d in docs] == ["wiki:1", "wiki:5"]
    assert docs[1]["text"] == "上海市是中国的直辖市之一，位于长江入海口。"
    assert drops == ["empty_text", "wiki_not_article", "wiki_not_article", "wiki_redirect"]
    # The tools outside Beam (quality and tokenizer trainers) read it the same way.
    assert [d["text"] for d in documents_in(str(path))] == [d["text"] for d in docs]


def test_plain_and_broken_dumps(tmp_path):
    xml = bz2.decompress(dump_bytes())
    plain = list(read_wiki_dump(io.BytesIO(xml), "plain.xml"))
    assert sum(isinstance(i, dict) for i in plain) == 2
    # Cut inside the fifth page: the pages before the fault are kept, the fault is one drop.
    cut = xml[: xml.index("上海市".encode()) + 20]
    broken = list(read_wiki_dump(io.BytesIO(bz2.compress(cut)), "cut.xml.bz2"))
    assert [i["url"] for i in broken if isinstance(i, dict)] == ["北京市"]
    assert isinstance(broken[-1], Drop) and broken[-1].reason == "bad_wiki_xml"


def test_quality_trainer_reads_reference_corpora(tmp_path):
    """A dump, Parquet, plain text and a folder of them are valid --positive inputs of the quality
    trainer (read through pipeline.inputs, like the pipeline's inputs)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "reference"
    (folder / "wiki").mkdir(parents=True)
    (folder / "wiki" / "zhwiki-pages-articles.xml.bz2").write_bytes(dump_bytes())
    pq.write_table(pa.table({"text": ["一篇文章。", "另一篇。"], "url": ["a", "b"]}), folder / "c.parquet")
    (folder / "d.txt").write_text("第一行文档\n第二行文档\n", encoding="utf-8")
    code = (
        f"from stages.quality import _read_class; import sys; print(len(_read_class([{str(folder)!r}], 0)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "6"  # 2 articles, 2 rows, 2 lines


def test_memory_stays_bounded_over_many_pages():
    """Pages are cleared as they are read: peak allocation while streaming a ~4.5 MB dump stays a
    small fraction of it (it would hold every page otherwise)."""
    import tracemalloc

    body = "上海市是中国的直辖市之一，位于长江入海口。" * 150  # ~3,000 characters a page
    pages = "".join(_page(i, f"条目{i}", 0, body) for i in range(1500))
    xml = f'<mediawiki xmlns="{NS}" version="0.10">{pages}</mediawiki>'.encode()
    data = bz2.compress(xml, 1)
    tracemalloc.start()
    n = sum(isinstance(i, dict) for i in read_wiki_dump(io.BytesIO(data), "big.xml.bz2"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 1500 and len(xml) > 4e6
    assert peak < len(xml) / 4, peak
