#!/usr/bin/python3
"""A deterministic, airlines-style flights table for the XGBoost examples.

    examples/flights.py OUT.csv [--rows N] [--seed S]

Writes a CSV with the columns of the classic airlines on-time dataset that
the examples use: Year, Month, DayOfWeek, Distance, DepDelay, CRSDepTime,
UniqueCarrier, Origin, Dest.  The same rows and seed always give the same
file.  DepDelay (minutes) depends on the carrier, the origin airport, the
scheduled hour, the month, the day of the week and the distance, plus
heavy-tailed noise, so a model can learn who is late (DepDelay > 15) but
not perfectly.  About a fifth of the flights are delayed, as in the real
data.

From Python: `generate(rows, seed)` returns a pandas DataFrame and
`write_csv(path, rows, seed)` writes one (in chunks, so any size fits).
"""
import argparse
import os
import sys

import numpy as np
import pandas as pd

COLUMNS = ["Year", "Month", "DayOfWeek", "Distance", "DepDelay",
           "CRSDepTime", "UniqueCarrier", "Origin", "Dest"]

# carrier: (share of flights, delay effect in minutes)
CARRIERS = {
    "WN": (0.18, 2.0), "AA": (0.12, 4.0), "DL": (0.12, -3.0),
    "UA": (0.10, 5.0), "US": (0.08, 1.0), "NW": (0.07, -1.0),
    "CO": (0.07, 3.0), "MQ": (0.06, 7.0), "OO": (0.05, 0.0),
    "XE": (0.04, 6.0), "B6": (0.04, 8.0), "AS": (0.03, -4.0),
    "F9": (0.02, -2.0), "HA": (0.02, -8.0),
}

# airport: (latitude, longitude, traffic weight, congestion effect)
AIRPORTS = {
    "ATL": (33.64, -84.43, 10, 6.0), "ORD": (41.98, -87.90, 9, 9.0),
    "DFW": (32.90, -97.04, 8, 2.0), "LAX": (33.94, -118.41, 7, 1.0),
    "DEN": (39.86, -104.67, 6, 0.0), "PHX": (33.43, -112.01, 5, -3.0),
    "IAH": (29.98, -95.34, 5, 2.0), "LAS": (36.08, -115.15, 5, -1.0),
    "DTW": (42.21, -83.35, 4, 3.0), "SFO": (37.62, -122.38, 4, 5.0),
    "EWR": (40.69, -74.17, 4, 10.0), "MSP": (44.88, -93.22, 4, 0.0),
    "JFK": (40.64, -73.78, 4, 8.0), "LGA": (40.78, -73.87, 4, 9.0),
    "BOS": (42.36, -71.01, 3, 4.0), "SEA": (47.45, -122.31, 3, -2.0),
    "MCO": (28.43, -81.31, 3, 0.0), "CLT": (35.21, -80.94, 3, 1.0),
    "PHL": (39.87, -75.24, 3, 6.0), "SLC": (40.79, -111.98, 3, -4.0),
    "MIA": (25.79, -80.29, 2, 3.0), "BWI": (39.18, -76.67, 2, 1.0),
    "SAN": (32.73, -117.19, 2, -3.0), "TPA": (27.98, -82.53, 2, -2.0),
    "PDX": (45.59, -122.60, 2, -5.0), "STL": (38.75, -90.37, 2, -1.0),
    "HNL": (21.32, -157.92, 1, -7.0), "MDW": (41.79, -87.75, 2, 3.0),
}

# scheduled hour 0..23: traffic weight and delay effect (delays build up
# through the day and are worst in the evening bank)
HOUR_WEIGHT = np.array([1, 0.3, 0.1, 0.1, 0.2, 2, 6, 8, 8, 7, 7, 7,
                        7, 7, 7, 7, 7, 7, 7, 6, 5, 4, 3, 2], dtype=float)
HOUR_EFFECT = np.array([6, 4, 2, 0, -6, -10, -9, -7, -5, -3, -1, 0,
                        2, 4, 6, 8, 10, 12, 14, 15, 14, 12, 10, 8], dtype=float)
MONTH_EFFECT = np.array([3, 1, 2, -1, -2, 5, 7, 5, -4, -3, -2, 8], dtype=float)
DOW_EFFECT = np.array([2, -1, -2, 3, 6, -3, 1], dtype=float)  # Mon..Sun

CHUNK = 100_000


def _distance_miles(a, b):
    """Great-circle distance between airports (vectors of codes index)."""
    lat = np.radians([AIRPORTS[k][0] for k in AIRPORTS])
    lon = np.radians([AIRPORTS[k][1] for k in AIRPORTS])
    dlat = lat[b] - lat[a]
    dlon = lon[b] - lon[a]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat[a]) * np.cos(lat[b]) * np.sin(dlon / 2) ** 2
    return np.round(2 * 3959 * np.arcsin(np.sqrt(h))).astype(np.int64)


def _chunk(rows, seed, index):
    rng = np.random.default_rng([seed, index])
    carriers = list(CARRIERS)
    cw = np.array([CARRIERS[c][0] for c in carriers])
    airports = list(AIRPORTS)
    aw = np.array([AIRPORTS[a][2] for a in airports], dtype=float)

    carrier = rng.choice(len(carriers), rows, p=cw / cw.sum())
    origin = rng.choice(len(airports), rows, p=aw / aw.sum())
    dest = rng.choice(len(airports) - 1, rows, p=None)
    dest = dest + (dest >= origin)          # never the origin itself
    year = rng.integers(2004, 2009, rows)
    month = rng.integers(1, 13, rows)
    dow = rng.integers(1, 8, rows)
    hour = rng.choice(24, rows, p=HOUR_WEIGHT / HOUR_WEIGHT.sum())
    minute = rng.choice(np.arange(0, 60, 5), rows)
    crs = hour * 100 + minute
    distance = _distance_miles(origin, dest)

    c_eff = np.array([CARRIERS[c][1] for c in carriers])[carrier]
    o_eff = np.array([AIRPORTS[a][3] for a in airports])[origin]
    d_eff = 0.4 * np.array([AIRPORTS[a][3] for a in airports])[dest]
    # short hops queue behind the long-haul banks; very long flights pad
    dist_eff = np.where(distance < 400, 3.0, 0.0) - np.where(distance > 2000, 3.0, 0.0)
    # the evening bank hurts more in the summer and December
    interact = np.where((hour >= 16) & np.isin(month, [6, 7, 12]), 6.0, 0.0)
    signal = (c_eff + o_eff + d_eff + HOUR_EFFECT[hour] + MONTH_EFFECT[month - 1]
              + DOW_EFFECT[dow - 1] + dist_eff + interact)
    # most flights leave within a few minutes of schedule; a heavy tail of
    # disruptions becomes likelier as the conditions get worse
    p_disrupt = 1 / (1 + np.exp(-(signal - 22) / 5))
    disrupted = rng.random(rows) < p_disrupt
    delay = (rng.normal(-6 + 0.3 * signal, 6, rows)
             + disrupted * (12 + rng.exponential(30, rows)))
    delay = np.maximum(np.round(delay), -25).astype(np.int64)

    return pd.DataFrame({
        "Year": year, "Month": month, "DayOfWeek": dow, "Distance": distance,
        "DepDelay": delay, "CRSDepTime": crs,
        "UniqueCarrier": np.array(carriers)[carrier],
        "Origin": np.array(airports)[origin], "Dest": np.array(airports)[dest],
    }, columns=COLUMNS)


def _chunks(rows, seed):
    for i, start in enumerate(range(0, rows, CHUNK)):
        yield _chunk(min(CHUNK, rows - start), seed, i)


def generate(rows=200_000, seed=0):
    """The first `rows` flights for `seed`, as a pandas DataFrame."""
    if rows <= 0:
        return _chunk(0, seed, 0)
    return pd.concat(list(_chunks(rows, seed)), ignore_index=True)


def write_csv(path, rows=200_000, seed=0):
    """Writes the table to path (atomically); returns path."""
    tmp = "%s.tmp%d" % (path, os.getpid())
    try:
        header = True
        for df in _chunks(rows, seed):
            df.to_csv(tmp, mode="w" if header else "a", header=header, index=False)
            header = False
        if header:
            _chunk(0, seed, 0).to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="CSV file to write")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    write_csv(a.out, a.rows, a.seed)
    print("wrote %d rows to %s" % (a.rows, a.out))


if __name__ == "__main__":
    sys.exit(main())
