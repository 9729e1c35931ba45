"""`la runs`: list, show, compare and prune the runs under a runs folder."""
