"""The built-in sample: a small WARC and WET file written by this module from pages written for it.

English and Chinese articles inside realistic page chrome (navigation, sidebar, footer), plus the
cases every later stage should visibly act on: an exact duplicate, a near duplicate, a spam page,
a page with an email address and phone numbers, a mojibake page, a GBK-encoded page, an image,
an HTTP 404 and a redirect. Output is byte-for-byte deterministic.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import os
import uuid

EN_ARTICLES: dict[str, tuple[str, list[str]]] = {
    "sourdough": (
        "Baking sourdough bread at home",
        [
            "Sourdough bread is leavened by a culture of wild yeast and lactic acid bacteria rather than by "
            "commercial yeast. A healthy starter doubles in size within six to eight hours after feeding, and "
            "that rhythm is the best guide to when the dough is ready to be mixed.",
            "Most home bakers work with a dough of flour, water and salt at about seventy five percent "
            "hydration. The dough is folded every half hour during the first two hours, which builds strength "
            "without the tiring kneading that older recipes asked for.",
            "The loaf is shaped, rested overnight in the refrigerator and baked in a very hot covered pot. "
            "The lid traps steam for the first twenty minutes, so the crust stays soft long enough for the "
            "bread to rise fully before it browns.",
        ],
    ),
    "bicycle": (
        "How to keep a bicycle chain running smoothly",
        [
            "A clean chain shifts better, runs quieter and lasts far longer than a dirty one. Grit picked up "
            "from the road mixes with old oil and becomes a paste that slowly wears down the chain rollers and "
            "the teeth of every sprocket it touches.",
            "Wipe the chain with a rag after wet rides, and every few weeks scrub it with a brush and a mild "
            "degreaser. Let it dry completely before you apply fresh lubricant to the inside of each link.",
            "Measure chain wear with a simple gauge. When a chain has stretched by half a percent it should be "
            "replaced, because a worn chain quickly ruins the cassette and the chainrings, which cost much more.",
        ],
    ),
    "solar": (
        "What to know before installing solar panels",
        [
            "A rooftop solar system produces the most energy when the panels face the sun for most of the day "
            "and nothing shades them. Even a small shadow from a chimney can reduce the output of a whole string "
            "of panels unless each panel has its own optimiser.",
            "Installers size a system from your yearly electricity use, the area of the roof and the local "
            "amount of sunshine. In many regions a typical household system pays for itself in eight to twelve "
            "years through lower bills.",
            "Ask for the expected yearly production in writing, check the warranty on the inverter as well as "
            "on the panels, and make sure the roof itself will not need repairs during the life of the system.",
        ],
    ),
    "tea": (
        "A short history of tea",
        [
            "Tea was drunk in China for many centuries before it reached the rest of the world. During the Tang "
            "dynasty the scholar Lu Yu wrote a whole book about growing, preparing and drinking it, and tea "
            "houses became places where people met to talk.",
            "Dutch and Portuguese traders brought tea to Europe in the seventeenth century. At first it was an "
            "expensive luxury, but within a hundred years it had become the everyday drink of Britain.",
            "Today green, black, oolong and white teas all come from the same plant. The difference lies in how "
            "the leaves are withered, rolled, oxidised and dried after they are picked.",
        ],
    ),
    "python": (
        "Learning to program with Python",
        [
            "Python is often recommended as a first programming language because its syntax is small and easy "
            "to read. A beginner can write a useful script that renames files or adds up a spreadsheet column "
            "after only a few evenings of practice.",
            "The best way to learn is to build something you actually need. Start with a tiny program, run it "
            "often, and read the error messages carefully, because they usually point to the exact line that "
            "needs attention.",
            "When a program grows, split it into functions with clear names and write small tests for them. "
            "Tests make it safe to change the code later without breaking what already works.",
        ],
    ),
    "birds": (
        "Getting started with birdwatching",
        [
            "Birdwatching needs little equipment: a pair of binoculars, a notebook and some patience. Early "
            "morning is the best time to go out, because birds are most active and most vocal in the first "
            "hours after sunrise.",
            "Learn the common birds of your own garden first. Once you know their shapes and songs, an unusual "
            "visitor stands out at once, and you will start to notice how the birds change with the seasons.",
            "Keep a simple list of what you see, where and when. Over the years such notes become a record of "
            "how local wildlife is doing, and many surveys welcome observations from volunteers.",
        ],
    ),
    "compost": (
        "Making compost in a small garden",
        [
            "Compost turns kitchen scraps and garden waste into dark, crumbly soil that feeds plants and helps "
            "the ground hold water. A simple bin in a shady corner is enough for most small gardens.",
            "Mix green material such as vegetable peelings and grass cuttings with brown material such as dry "
            "leaves, straw and torn cardboard. Too much green makes the heap wet and smelly, too much brown "
            "makes it slow.",
            "Turn the heap every few weeks to let air in. After six months to a year the bottom of the bin will "
            "hold finished compost that can be spread around plants or dug into new beds.",
        ],
    ),
}

ZH_ARTICLES: dict[str, tuple[str, list[str]]] = {
    "chaye": (
        "中国茶文化简介",
        [
            "茶起源于中国，已有数千年的历史。唐代陆羽撰写的《茶经》系统地记述了茶的种植、采摘、制作和饮用方法，"
            "被后人称为世界上第一部茶学专著。",
            "中国茶大致可以分为绿茶、红茶、乌龙茶、白茶、黄茶和黑茶六大类。它们来自同一种植物，区别主要在于加工过程"
            "中发酵程度的不同。",
            "饮茶不仅是一种生活习惯，也是一种待客之道。客人到家，主人往往先泡上一壶好茶，以表示尊重和欢迎。",
        ],
    ),
    "zixingche": (
        "自行车日常保养小常识",
        [
            "经常骑行的自行车需要定期保养。链条是最容易被忽视的部件，灰尘和旧油混在一起，会加快链条和飞轮的磨损。",
            "雨天骑行之后，应当用干布擦去链条上的泥水，每隔几周再用刷子和清洁剂彻底清洗一次，晾干后重新上油。",
            "刹车片和轮胎也要经常检查。刹车片磨薄以后制动距离会明显变长，轮胎气压不足则容易被扎破，也会让骑行更费力。",
        ],
    ),
    "taiyangneng": (
        "家庭安装太阳能板需要注意什么",
        [
            "屋顶太阳能系统的发电量取决于日照时间、屋顶朝向和遮挡情况。即使是烟囱投下的一小片阴影，也可能让整串电池板"
            "的输出大幅下降。",
            "安装之前，应当根据家庭全年的用电量、屋顶面积和当地的日照条件来确定系统规模。在许多地区，一套普通的家用系统"
            "大约八到十二年可以收回成本。",
            "签约时请安装公司书面说明预计的年发电量，同时了解逆变器和电池板各自的保修期限，并确认屋顶本身状况良好。",
        ],
    ),
    "biancheng": (
        "零基础怎样学习编程",
        [
            "很多人推荐把Python作为第一门编程语言，因为它的语法简洁，代码读起来接近自然语言。初学者练习几个晚上，"
            "就能写出整理文件或统计表格的小程序。",
            "学习编程最好的办法是动手做一个自己真正需要的东西。先从很小的程序开始，经常运行，认真阅读报错信息，"
            "因为它通常会指出出错的具体位置。",
            "程序变大以后，要把代码拆分成名字清楚的函数，并为它们编写测试。有了测试，以后修改代码时就不必担心破坏"
            "原有的功能。",
        ],
    ),
    "zhongqiu": (
        "中秋节的由来和习俗",
        [
            "农历八月十五是中国的传统节日中秋节。这一天月亮又圆又亮，人们把它看作团圆的象征，在外的游子也会尽量回家"
            "与家人团聚。",
            "中秋节最有代表性的食品是月饼。各地的月饼口味不同，有莲蓉、豆沙、五仁，也有咸蛋黄和鲜肉馅的。",
            "赏月、猜灯谜、提灯笼都是流传已久的中秋习俗。关于嫦娥奔月的传说，更为这个节日增添了浪漫的色彩。",
        ],
    ),
    "weiqi": (
        "围棋入门：从规则开始",
        [
            "围棋起源于中国，至今已有四千多年的历史。对局双方分别执黑白棋子，轮流落子在棋盘的交叉点上，以围取地盘的"
            "多少决定胜负。",
            "初学者首先要理解“气”的概念。一块棋的所有气都被对方堵住时，就会被提走。掌握了提子和禁入点，就可以开始"
            "下简单的对局了。",
            "下棋的过程也是锻炼耐心和全局观的过程。许多棋手认为，比起一时的得失，更重要的是学会从整个棋盘出发思考问题。",
        ],
    ),
    "jiaozi": (
        "在家包饺子的方法",
        [
            "饺子是中国北方最受欢迎的家常食物之一，逢年过节更是餐桌上少不了的一道菜。包饺子的过程本身，"
            "也常常是一家人聚在一起聊天的好时光。",
            "和面时面粉和水的比例大约是二比一，面团要揉到表面光滑，再盖上湿布醒半个小时。馅料可以用猪肉白菜、韭菜鸡蛋，"
            "也可以按照自己的口味调配。",
            "煮饺子时水要多，饺子下锅后轻轻推动，防止粘底。水开后点三次凉水，等饺子全部浮起、皮变得透亮，就可以出锅了。",
        ],
    ),
}

EN_CHROME = (
    "Home | News | Guides | Shop | Contact",
    "Popular: Top 10 gadgets | Weekly deals | Newsletter",
    "Copyright 2025 Example Media. All rights reserved. Privacy policy | Terms of use",
)
ZH_CHROME = (
    "首页 | 新闻 | 生活 | 科技 | 联系我们",
    "热门推荐：十大好物 | 本周优惠 | 订阅我们",
    "版权所有 © 2025 示例传媒 保留所有权利 | 隐私政策 | 使用条款",
)

SPAM = (
    "Best cheap deals online",
    [
        "cheap deals cheap deals cheap deals buy now buy now buy now best price best price best price",
        "CLICK HERE CLICK HERE CLICK HERE free free free winner winner winner casino casino casino",
        "lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet",
        "cheap deals cheap deals cheap deals buy now buy now buy now best price best price best price",
    ],
)

CONTACT = (
    "Contact our community garden",
    [
        "The community garden on Elm Street is open to volunteers every Saturday morning from nine until noon. "
        "Gloves and tools are provided, and no experience is needed to help with planting and weeding.",
        "To join the volunteer list, write to garden.volunteers@example.org or call the coordinator at "
        "(415) 555-0132. We answer every message within a few days.",
        "Donations of seeds, compost and old garden tools are always welcome and can be left at the shed "
        "next to the main gate during opening hours.",
    ],
)

ZH_CONTACT = (
    "社区图书馆招募志愿者",
    [
        "社区图书馆每周六上午开放志愿服务，欢迎热心的居民参与图书整理、借还登记和儿童阅读活动。",
        "报名请发送邮件至library.help@example.cn，或拨打联系电话13812345678，我们会在三个工作日内回复。",
        "图书馆也接受旧书捐赠，请在开放时间内送到一楼服务台，工作人员会进行登记和分类。",
    ],
)


def page_html(title: str, paragraphs: list[str], chrome: tuple[str, str, str], lang: str) -> str:
    nav, side, footer = (html.escape(s) for s in chrome)
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>\n'
        f"<script>window.analytics = {{track: function() {{}}}};</script><style>body{{font-family:serif}}</style>"
        f"</head>\n<body><header><nav>{nav}</nav></header>\n"
        f"<main><article><h1>{html.escape(title)}</h1>\n{body}\n</article></main>\n"
        f"<aside><h3>{side}</h3></aside>\n<footer>{footer}</footer></body></html>\n"
    )


def _record_id(key: str) -> str:
    return f"<urn:uuid:{uuid.UUID(hashlib.md5(key.encode()).hexdigest())}>"


def warc_record(rtype: str, url: str, block: bytes, content_type: str, key: str, date: str) -> bytes:
    head = (
        f"WARC/1.0\r\nWARC-Type: {rtype}\r\nWARC-Target-URI: {url}\r\nWARC-Date: {date}\r\n"
        f"WARC-Record-ID: {_record_id(key)}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(block)}\r\n\r\n"
    ).encode()
    return head + block + b"\r\n\r\n"


def http_response(body: bytes, content_type: str, status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def sample_pages() -> list[tuple[str, str, str, bytes]]:
    """(url, lang, content type, body bytes) for every page in the sample WARC."""
    pages = []
    for slug, (title, paras) in EN_ARTICLES.items():
        pages.append(
            (
                f"https://en.example.com/guides/{slug}",
                "en",
                "text/html; charset=utf-8",
                page_html(title, paras, EN_CHROME, "en").encode(),
            )
        )
    for slug, (title, paras) in ZH_ARTICLES.items():
        pages.append(
            (
                f"https://zh.example.cn/wenzhang/{slug}.html",
                "zh",
                "text/html; charset=utf-8",
                page_html(title, paras, ZH_CHROME, "zh").encode(),
            )
        )
    title, paras = EN_ARTICLES["tea"]
    # An exact duplicate on a mirror site, and a near duplicate with a changed last sentence.
    pages.append(
        (
            "https://mirror.example.net/tea-history",
            "en",
            "text/html; charset=utf-8",
            page_html(title, paras, EN_CHROME, "en").encode(),
        )
    )
    near = paras[:-1] + [paras[-1].replace("after they are picked", "once they have been picked by hand")]
    pages.append(
        (
            "https://blog.example.org/2025/tea",
            "en",
            "text/html; charset=utf-8",
            page_html(title, near, EN_CHROME, "en").encode(),
        )
    )
    title, paras = ZH_ARTICLES["zhongqiu"]
    pages.append(
        (
            "https://copy.example.cn/zhongqiu.html",
            "zh",
            "text/html; charset=utf-8",
            page_html(title, paras, ZH_CHROME, "zh").encode(),
        )
    )
    pages.append(
        ("https://deals.example.biz/", "en", "text/html", page_html(*SPAM, EN_CHROME, "en").encode())
    )
    pages.append(
        (
            "https://garden.example.org/contact",
            "en",
            "text/html; charset=utf-8",
            page_html(*CONTACT, EN_CHROME, "en").encode(),
        )
    )
    pages.append(
        (
            "https://lib.example.cn/volunteer",
            "zh",
            "text/html; charset=utf-8",
            page_html(*ZH_CONTACT, ZH_CHROME, "zh").encode(),
        )
    )
    # Served as GB18030 (a GBK superset) without a charset header: the reader must detect it.
    title, paras = ZH_ARTICLES["weiqi"]
    gbk = page_html(title, paras, ZH_CHROME, "zh").replace('<meta charset="utf-8">', "")
    pages.append(("https://gbk.example.cn/weiqi.htm", "zh", "text/html", gbk.encode("gb18030")))
    # Mojibake: UTF-8 text that was decoded as Windows-1252 somewhere upstream.
    title, paras = EN_ARTICLES["compost"]
    broken = [
        p.replace("compost", "compost\u2019s caf\u00e9").encode("utf-8").decode("cp1252", "replace")
        for p in paras
    ]
    pages.append(
        (
            "https://old.example.com/compost",
            "en",
            "text/html; charset=utf-8",
            page_html(title, broken, EN_CHROME, "en").encode(),
        )
    )
    return pages


def write_sample(directory: str) -> list[str]:
    """Write sample.warc.gz and sample.warc.wet.gz into ``directory``; return their paths."""
    os.makedirs(directory, exist_ok=True)
    date = "2025-02-10T08:00:00Z"
    warc_path = os.path.join(directory, "sample.warc.gz")
    with open(warc_path, "wb") as out:

        def put(record: bytes) -> None:
            # One gzip member per record, as CommonCrawl writes them; mtime 0 for stable bytes.
            out.write(gzip.compress(record, mtime=0))

        info = b"software: pipeline.sample\r\nisPartOf: SAMPLE-2025\r\n"
        put(warc_record("warcinfo", "", info, "application/warc-fields", "warcinfo", date))
        for i, (url, _lang, ctype, body) in enumerate(sample_pages()):
            put(
                warc_record(
                    "request",
                    url,
                    f"GET / HTTP/1.1\r\nHost: {url}\r\n\r\n".encode(),
                    "application/http; msgtype=request",
                    f"req{i}",
                    date,
                )
            )
            put(
                warc_record(
                    "response",
                    url,
                    http_response(body, ctype),
                    "application/http; msgtype=response",
                    f"resp{i}",
                    date,
                )
            )
        put(
            warc_record(
                "response",
                "https://en.example.com/logo.png",
                http_response(b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"),
                "application/http; msgtype=response",
                "png",
                date,
            )
        )
        put(
            warc_record(
                "response",
                "https://en.example.com/missing",
                http_response(b"<html><body>Not Found</body></html>", "text/html", "404 Not Found"),
                "application/http; msgtype=response",
                "404",
                date,
            )
        )

    wet_path = os.path.join(directory, "sample.warc.wet.gz")
    with open(wet_path, "wb") as out:
        out.write(
            gzip.compress(
                warc_record(
                    "warcinfo", "", b"isPartOf: SAMPLE-2025\r\n", "application/warc-fields", "wetinfo", date
                ),
                mtime=0,
            )
        )
        articles = [(f"https://wet.example.com/{k}", t, p) for k, (t, p) in EN_ARTICLES.items()]
        articles += [(f"https://wet.example.cn/{k}", t, p) for k, (t, p) in ZH_ARTICLES.items()]
        for url, title, paras in articles[::2]:
            text = "\n".join([title, *paras]).encode()
            out.write(
                gzip.compress(warc_record("conversion", url, text, "text/plain", f"wet-{url}", date), mtime=0)
            )
    return [warc_path, wet_path]
