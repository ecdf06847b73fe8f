"""Report: store -> aggregate (pandas) -> leaderboard tables, seaborn plots, static site.

The report layer reads only the result store and ``baselines/``; it never imports tasks,
executors or activations, so it runs on a machine that only holds the JSON records.
"""
