"""validate mode: a parameter grid, walk-forward folds, parallel evaluation, a leaderboard."""
