"""The link rules' lists, as data in one place. Each entry is checked by tests/test_blocklists.py.

Matching is by host suffix on label boundaries: "imgur.com" blocks "i.imgur.com" but not
"notimgur.com". WebText kept sites that OpenWebText's lists drop (github, google, archive.org,
pastebin; see ../shared/data/webtext/domains.txt), so those are deliberately absent here.
"""

from __future__ import annotations

# Links back into Reddit (not outbound links).
REDDIT_HOSTS: frozenset[str] = frozenset(
    {
        "reddit.com",
        "redd.it",
        "redditmedia.com",
        "redditstatic.com",
        "reddituploads.com",
        "redditblog.com",
        "reddit.app.link",
        "redditinc.com",
    }
)

# Wikipedia: any language edition and mobile host is caught by the label rule in
# link_rules.is_wikipedia_host; these are the other hosts that serve Wikipedia articles.
WIKIPEDIA_EXTRA_HOSTS: frozenset[str] = frozenset(
    {
        "w.wiki",
        "wikiwand.com",
        "wiki2.org",
    }
)

# Image, video and audio hosts, and social sites whose pages carry no extractable article.
BLOCKED_DOMAINS: frozenset[str] = frozenset(
    {
        # images
        "imgur.com",
        "flickr.com",
        "flic.kr",
        "photobucket.com",
        "tinypic.com",
        "imageshack.us",
        "imageshack.com",
        "gfycat.com",
        "giphy.com",
        "gyazo.com",
        "postimg.cc",
        "postimg.org",
        "imgflip.com",
        "prntscr.com",
        "prnt.sc",
        "deviantart.com",
        "500px.com",
        "pinterest.com",
        "instagram.com",
        "9gag.com",
        "quickmeme.com",
        "memegenerator.net",
        "twimg.com",
        "tumblr.com",
        "ibb.co",
        "minus.com",
        "imgbox.com",
        "funnyjunk.com",
        # video
        "youtube.com",
        "youtu.be",
        "vimeo.com",
        "dailymotion.com",
        "twitch.tv",
        "streamable.com",
        "liveleak.com",
        "vid.me",
        "vine.co",
        "metacafe.com",
        "break.com",
        "video.google.com",
        "tiktok.com",
        # audio
        "soundcloud.com",
        "spotify.com",
        "bandcamp.com",
        "mixcloud.com",
        "last.fm",
        # social sites, logins and chat
        "facebook.com",
        "fb.com",
        "fbcdn.net",
        "twitter.com",
        "x.com",
        "t.co",
        "plus.google.com",
        "linkedin.com",
        "discord.gg",
        "discord.com",
        "discordapp.com",
        "snapchat.com",
        "steamcommunity.com",
        "itunes.apple.com",
        "play.google.com",
        # file hosting
        "dropbox.com",
        "mega.nz",
        "mediafire.com",
        "drive.google.com",
        "docs.google.com",
        "onedrive.live.com",
    }
)

# Extensions of the last path segment that are never an HTML page.
BLOCKED_EXTENSIONS: frozenset[str] = frozenset(
    {
        # images
        "jpg",
        "jpeg",
        "png",
        "gif",
        "gifv",
        "bmp",
        "tif",
        "tiff",
        "webp",
        "svg",
        "ico",
        "heic",
        # video
        "mp4",
        "webm",
        "avi",
        "mov",
        "mkv",
        "flv",
        "wmv",
        "mpg",
        "mpeg",
        "m4v",
        "3gp",
        # audio
        "mp3",
        "wav",
        "ogg",
        "flac",
        "m4a",
        "aac",
        "wma",
        "mid",
        # archives and executables
        "zip",
        "rar",
        "7z",
        "tar",
        "gz",
        "tgz",
        "bz2",
        "xz",
        "exe",
        "msi",
        "dmg",
        "apk",
        "iso",
        "bin",
        "deb",
        "rpm",
        "jar",
        "torrent",
        # documents
        "pdf",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "ppt",
        "pptx",
        "odt",
        "ods",
        "odp",
        "rtf",
        "ps",
        "eps",
        "swf",
    }
)

# Query parameters that only track the click; dropped during normalisation.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "vero_id",
        "oly_anon_id",
        "oly_enc_id",
        "wt.mc_id",
        "cmpid",
        "ncid",
        "sr_share",
    }
)
TRACKING_PREFIXES: tuple[str, ...] = ("utm_",)
