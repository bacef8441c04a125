"""Live Reddit input through praw, against a real HTTP server on 127.0.0.1 in Reddit's shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from beam_jobs.links_job import LinksConfig, run_links
from pipeline import reddit_live
from pipeline.cli import main as cli_main
from pipeline.io import schemas, shards
from tests.helpers import submission
from tests.reddit_server import FakeReddit

CLIENT_ID = "test-client-id"
SECRET = "s3cr3t-never-logged"


def _listing() -> dict[str, list[dict]]:
    news = [
        submission(f"n{i}", f"http://paper{i % 60}.example.com/a{i}", score=i % 7)
        for i in range(150)
    ]
    news.append(
        submission(
            "nself", "https://www.reddit.com/r/news/comments/x/", is_self=True, domain="self.news"
        )
    )
    news.append(submission("nimg", "https://i.imgur.com/a.png", score=99))
    science = [submission(f"s{i}", f"http://journal.example.org/p{i}", score=10) for i in range(30)]
    return {"news": news, "science": science}


@pytest.fixture
def fake_reddit(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("praw_client_id", CLIENT_ID)
    monkeypatch.setenv("praw_client_secret", SECRET)
    with FakeReddit(_listing(), CLIENT_ID, SECRET) as server:
        yield server


def test_spec_parsing_and_errors() -> None:
    spec = reddit_live.parse_spec("reddit:news+science?listing=top&time=week&limit=500")
    assert (spec.subreddits, spec.listing, spec.time_filter, spec.limit) == (
        "news+science",
        "top",
        "week",
        500,
    )
    for bad, msg in [
        ("reddit:", "subreddit names"),
        ("reddit:news?listing=best", "listing 'best'"),
        ("reddit:news?time=century", "time 'century'"),
        ("reddit:news?limit=ten", "not a number"),
        ("reddit:news?sort=new", "unknown parameter"),
    ]:
        with pytest.raises(reddit_live.RedditSpecError, match=msg):
            reddit_live.parse_spec(bad)


def test_praw_pages_through_a_listing(fake_reddit: FakeReddit) -> None:
    reddit = reddit_live.make_reddit(oauth_url=fake_reddit.url, reddit_url=fake_reddit.url)
    records = list(
        reddit_live.iter_listing(reddit, reddit_live.parse_spec("reddit:news?limit=140"))
    )
    assert len(records) == 140
    assert len(fake_reddit.listing_requests) == 2  # praw asked for two pages of up to 100
    assert fake_reddit.token_requests == 1
    assert {"id", "url", "score", "is_self", "over_18", "created_utc", "subreddit"} <= set(
        records[0]
    )
    assert records[0]["subreddit"] == "news"


def test_links_job_from_the_live_api(fake_reddit: FakeReddit, tmp_path: Path) -> None:
    out = tmp_path / "links"
    config = LinksConfig(
        inputs=["reddit:news+science?listing=new&limit=none"],
        out_dir=str(out),
        num_shards=2,
        praw_overrides=(("oauth_url", fake_reddit.url), ("reddit_url", fake_reddit.url)),
    )
    run_links(config)
    rows = shards.read_rows(str(out), schemas.LINKS)
    stats = shards.read_stats(str(out))
    assert stats["records_in"] == 182
    assert stats["dropped"]["self_post"] == 1 and stats["dropped"]["blocked_domain"] == 1
    assert all(r["max_score"] >= 3 for r in rows)
    assert sum(r["domain"] == "journal.example.org" for r in rows) == 30
    expected_news = sum(1 for i in range(150) if i % 7 >= 3)
    assert sum(r["domain"].startswith("paper") for r in rows) == expected_news
    # A live run is never resumed silently: the same directory needs --overwrite.
    with pytest.raises(shards.ShardError, match="different run"):
        run_links(config)


def test_credentials_are_never_logged(
    fake_reddit: FakeReddit, tmp_path: Path, capfd, monkeypatch
) -> None:
    # praw.ini in the working directory points praw at the local server (a user's proxy setup).
    (tmp_path / "praw.ini").write_text(
        f"[local]\noauth_url={fake_reddit.url}\nreddit_url={fake_reddit.url}\n"
    )
    monkeypatch.chdir(tmp_path)
    import praw.config

    monkeypatch.setattr(praw.config.Config, "CONFIG", None)  # praw caches praw.ini per process
    monkeypatch.setenv("PRAW_ALLOW_ENDPOINT_OVERRIDE", "1")
    code = cli_main(
        [
            "--log-level",
            "debug",
            "links",
            "reddit:science?limit=30",
            "--out",
            str(tmp_path / "o"),
            "--reddit-site",
            "local",
        ]
    )
    assert code == 0
    captured = capfd.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "30 in -> 30 out" in captured.out
    assert SECRET not in (tmp_path / "o" / shards.STATS_FILE).read_text()
    assert SECRET not in (tmp_path / "o" / "_job.json").read_text()
