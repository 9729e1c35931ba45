"""The dashboard: a web page per run, a JSON API, Server-Sent Events and the kill switch as buttons,
served by the daemon for its own run or by `la dashboard` for a runs folder."""
