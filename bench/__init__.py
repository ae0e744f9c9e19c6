"""Load benchmarks for Portail Familles: `python -m bench.rush` replays an opening-day rush."""
