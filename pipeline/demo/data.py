"""The embedded default input of ``webtext demo``: a small Reddit dump in the real Pushshift
schema, generated deterministically, that exercises every link rule.

It mixes outbound news links (kept when some post has karma >= 3), the same article posted
with URL variants, low-score posts, self posts, image and video hosts, Wikipedia in several
editions, links back into Reddit, NSFW posts, file downloads, null fields, string timestamps,
HTML entities in URLs and malformed lines.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import zstandard

NEWS_SITES = [
    "www.dailyplanet-news.com",
    "www.gazette-herald.org",
    "techreview.example.net",
    "blog.sciencecorner.io",
    "www.worldaffairs-weekly.com",
    "citychronicle.co.uk",
]
TOPICS = [
    "city-council-approves-new-budget",
    "researchers-map-deep-ocean-currents",
    "open-source-project-reaches-1-0",
    "local-team-wins-championship",
    "how-solar-panels-are-recycled",
    "the-history-of-the-printing-press",
    "new-species-of-frog-discovered",
    "why-bridges-sway-in-the-wind",
    "a-guide-to-sourdough-starters",
    "election-results-explained",
    "the-economics-of-coffee",
    "understanding-compound-interest",
]
SUBREDDITS = ["news", "science", "technology", "worldnews", "programming", "reddit.com"]


def _record(rng: random.Random, post_id: int, **fields: Any) -> dict[str, Any]:
    created = 1_119_552_000 + post_id * 977
    record: dict[str, Any] = {
        "archived": True,
        "author": f"user{rng.randrange(10_000)}",
        "created_utc": created,
        "domain": None,
        "id": format(post_id, "x"),
        "is_self": False,
        "num_comments": rng.randrange(50),
        "over_18": False,
        "permalink": f"/r/news/comments/{post_id:x}/demo/",
        "score": rng.randrange(3, 400),
        "selftext": "",
        "subreddit": rng.choice(SUBREDDITS),
        "title": "A demo submission",
        "url": None,
    }
    record.update(fields)
    if record.get("url") and record.get("domain") is None and "://" in record["url"]:
        host = record["url"].split("/")[2]
        record["domain"] = host[4:] if host.startswith("www.") else host
    return record


def demo_lines(seed: int = 1234) -> list[str]:
    """The demo dump's lines (JSON objects, plus a few deliberately malformed lines)."""
    rng = random.Random(seed)
    post_id = 5000
    lines: list[str] = []

    def add(**fields: Any) -> None:
        nonlocal post_id
        post_id += 1
        lines.append(json.dumps(_record(rng, post_id, **fields)))

    # Outbound articles; every one has a post with karma >= 3.
    for i, topic in enumerate(TOPICS):
        site = NEWS_SITES[i % len(NEWS_SITES)]
        title = topic.replace("-", " ").capitalize()
        add(url=f"http://{site}/2019/{i + 1:02d}/{topic}.html", title=title)
    # The same articles posted again as URL variants: merged into one link each.
    add(url=f"https://{NEWS_SITES[0][4:]}/2019/01/{TOPICS[0]}.html?utm_source=reddit", score=1)
    add(url=f"http://{NEWS_SITES[1]}/2019/02/{TOPICS[1]}.html#comments", score=12)
    add(url=f"http://{NEWS_SITES[2]}/2019/03/{TOPICS[2]}.html?fbclid=abc123", score=0)
    # Low karma everywhere: below --min-score 3 under both rules (sum of 1 + 1 = 2).
    add(url="http://www.smalltown-blog.com/my-first-post", score=1, title="My first post")
    add(url="http://www.smalltown-blog.com/my-first-post/", score=1, title="My first post")
    add(url="http://www.quietcorner.net/notes/2019", score=2)
    # Passes only the sum rule: 2 + 2 = 4 but no single post reaches 3.
    add(url="http://www.twopoints.org/essay", score=2)
    add(url="https://twopoints.org/essay", score=2)
    # Self posts and links back into Reddit.
    add(
        url="https://www.reddit.com/r/news/comments/abc/discussion/",
        is_self=True,
        domain="self.news",
    )
    add(url="https://www.reddit.com/r/science/comments/xyz/look_at_this/", score=50)
    add(url="https://i.redd.it/a1b2c3.png", score=90)
    # Image, video and social hosts; files that are not pages.
    add(url="http://i.imgur.com/funny.gif", score=300)
    add(url="https://www.youtube.com/watch?v=dQw4w9WgXcQ", score=120)
    add(url="http://www.gazette-herald.org/files/annual-report.pdf", score=40)
    add(url="http://techreview.example.net/img/chart.JPG", score=15)
    # Wikipedia in several editions and hosts.
    add(url="http://en.wikipedia.org/wiki/Printing_press", score=77)
    add(url="https://de.m.wikipedia.org/wiki/Buchdruck", score=10)
    # NSFW by flag.
    add(url="http://www.adult-example.com/page", score=33, over_18=True)
    # Dump quirks: null url, null score (repaired to 0), created_utc as a string,
    # an HTML-escaped URL, a missing subreddit, a URL that is not http(s).
    add(url=None, score=10)
    add(url="http://www.worldaffairs-weekly.com/2019/null-score", score=None)
    add(url="http://citychronicle.co.uk/2019/string-time", created_utc="1119999999")
    add(url="http://blog.sciencecorner.io/search?q=frogs&amp;page=2", score=8)
    add(url="http://www.dailyplanet-news.com/2019/no-subreddit", subreddit=None, score=5)
    add(url="javascript:alert(1)", score=9)
    # Malformed lines: cut-off JSON, a JSON array, binary garbage.
    lines.append('{"id": "broken", "url": "http://www.gazette-herald.org/cut')
    lines.append('["not", "an", "object"]')
    lines.append("\x00\x01garbage\x02")
    rng.shuffle(lines)
    return lines


def write_demo_dump(path: str | Path, seed: int = 1234) -> Path:
    """Write the demo dump as a zstd file (the Pushshift format). Returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(demo_lines(seed)) + "\n").encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(zstandard.ZstdCompressor(level=10).compress(data))
    tmp.replace(path)
    return path


# Held-out documents written apart from the demo's pages (other topics, other sentences): none
# of their 8-grams occurs in the demo corpus, so the report's "none" overlap bucket has examples.
UNSEEN_DOCUMENTS = (
    "My grandmother kept bees behind the old stone barn for forty summers. Every spring she "
    "lifted each frame slowly, humming a tune nobody else ever learned, and the bees seemed to "
    "forgive her for it.\n\nWhen the honey came in we poured it through a cotton sheet into "
    "tall jars, and the kitchen smelled of wax and clover until the first frost arrived.",
    "The lighthouse on the northern cape was switched to solar power last autumn, ending a "
    "century of paraffin lamps and hand-wound clockwork. Its final keeper still walks up the "
    "ninety iron steps each Sunday morning.\n\nHe says the beam looks whiter now, and that "
    "passing fishermen wave less than they used to, perhaps because nobody waves back.",
    "To repair a bicycle puncture, first remove the wheel and let out whatever air remains. "
    "Lever one side of the tyre off the rim, pull out the tube, and pump it a little so the "
    "hole hisses.\n\nRoughen the rubber around the hole with sandpaper, spread a thin layer "
    "of glue, wait until it turns dull, then press the patch down firmly for a full minute.",
)


def unseen_documents() -> list[str]:
    """The held-out documents that share no 8-gram with the demo corpus."""
    return list(UNSEEN_DOCUMENTS)
