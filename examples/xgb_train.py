#!/usr/bin/python3
"""Train an XGBoost flight-delay model on an (elastic) Dask cluster.

    examples/xgb_train.py [SCHEDULER_ADDRESS] [--rows N] [--csv PATH]
                          [--partitions N] [--rounds N] [--seed S]

The address comes from the argument or from DASK_SCHEDULER_ADDRESS (an
edask instance prints it as `dask_scheduler_address`).

Reads an airlines-style flights table (a real airlines on-time CSV with
--csv, else a deterministic generated one of --rows rows, see flights.py),
labels `is_delayed = DepDelay > 15`, one-hot encodes the carrier and the
airports with dask, persists the result on the workers, trains with
xgboost.dask and evaluates on a held-out split.  Tasks ask for
resources={"GPU": 1} when the workers advertise GPUs, and the model uses
`gpu_hist` when the workers' xgboost is built with CUDA, else `hist`.

Prints a progress line per step with its timing, then one line
`result: {...}` (JSON) with the metrics and timings.  Exits 1 with a
message when the scheduler cannot be reached.
"""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import flights  # noqa: E402

LABEL = "is_delayed"
CATEGORICAL = ["UniqueCarrier", "Origin", "Dest"]
NUMERIC = ["Year", "Month", "DayOfWeek", "Distance", "CRSDepTime"]
DTYPES = {"Year": "float64", "Month": "float64", "DayOfWeek": "float64",
          "Distance": "float64", "DepDelay": "float64",
          "CRSDepTime": "float64", "UniqueCarrier": "object",
          "Origin": "object", "Dest": "object"}

T0 = time.monotonic()


def say(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


def nworkers(client):
    return len(client.scheduler_info()["workers"])


def connect(address, timeout):
    import distributed
    try:
        return distributed.Client(address, timeout=timeout)
    except Exception as e:  # OSError, TimeoutError, ValueError (bad address)
        sys.exit("xgb_train: cannot connect to the Dask scheduler at %s: %s"
                 % (address, str(e) or type(e).__name__))


def _cuda_build():
    import xgboost
    try:
        return bool(xgboost.build_info().get("USE_CUDA"))
    except Exception:
        return False


def choose_device(client):
    """-> (task resources or None, tree_method, why)."""
    workers = client.scheduler_info()["workers"].values()
    gpu = any(w.get("resources", {}).get("GPU") for w in workers)
    resources = {"GPU": 1} if gpu else None
    if not gpu:
        return resources, "hist", "workers advertise no GPU"
    try:
        cuda = client.run(_cuda_build)
    except Exception as e:
        return resources, "hist", "cannot ask the workers' xgboost (%s)" % e
    if cuda and all(cuda.values()):
        return resources, "gpu_hist", "workers have GPUs and a CUDA xgboost"
    return resources, "hist", "workers have GPUs but their xgboost is a CPU build"


def data_path(args):
    if args.csv:
        if not os.path.exists(args.csv):
            sys.exit("xgb_train: no such file: %s" % args.csv)
        return args.csv, False
    d = args.data_dir or os.environ.get("XGB_DATA_DIR") or \
        os.path.join(tempfile.gettempdir(), "edask-flights")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "flights-%d-seed%d.csv" % (args.rows, args.seed))
    if os.path.exists(path):
        return path, False
    flights.write_csv(path, args.rows, args.seed)
    return path, True


def load(client, path, partitions, resources):
    """The raw table, persisted on the workers in `partitions` pieces."""
    import dask.dataframe as dd
    size = os.path.getsize(path)
    blocksize = max(size // max(partitions, 1), 64 * 1024)   # -> `partitions` blocks
    df = dd.read_csv(path, usecols=list(DTYPES), dtype=DTYPES,
                     blocksize=blocksize, na_values=["NA", ""])
    return client.persist(df, resources=resources)


def preprocess(client, df, seed, resources):
    """-> persisted (X_train, y_train, X_test, y_test)."""
    import dask.dataframe as dd
    df = df.dropna(subset=["DepDelay", "CRSDepTime"] + CATEGORICAL)
    df = df.assign(**{LABEL: (df["DepDelay"] > 15).astype("int32")})
    # scheduled departure hhmm -> hour of day
    df = df.assign(CRSDepTime=(df["CRSDepTime"].clip(0, 2359) // 100))
    df = df[NUMERIC + CATEGORICAL + [LABEL]]
    df = df.categorize(columns=CATEGORICAL)   # one pass to learn the categories
    df = dd.get_dummies(df, columns=CATEGORICAL, dtype="float32")
    df = df.astype({c: "float32" for c in NUMERIC})
    train, test = df.random_split([0.8, 0.2], random_state=seed)
    parts = (train.drop(columns=[LABEL]), train[LABEL],
             test.drop(columns=[LABEL]), test[LABEL])
    parts = client.persist(list(parts), resources=resources)
    import distributed
    distributed.wait(parts)
    return parts


def train(client, X, y, rounds, tree_method, resources, seed):
    import dask
    import xgboost
    dtrain = xgboost.dask.DaskDMatrix(client, X, y)
    params = {"objective": "binary:logistic", "eval_metric": ["logloss", "auc"],
              "tree_method": tree_method, "max_depth": 6, "eta": 0.3,
              "seed": seed}
    with dask.annotate(**({"resources": resources} if resources else {})):
        out = xgboost.dask.train(client, params, dtrain, num_boost_round=rounds,
                                 evals=[(dtrain, "train")])
    return out["booster"], out["history"]


def evaluate(client, booster, X, y, resources):
    import numpy as np
    import xgboost
    from sklearn.metrics import accuracy_score, roc_auc_score
    # One copy of the model, fetched by the workers that need it: a broadcast
    # to every worker would fail if edask retires an idle one meanwhile.
    model = client.scatter(booster)
    pred = xgboost.dask.predict(client, model, X)
    p, truth = client.compute([pred, y], resources=resources, sync=True)
    p = np.asarray(p)
    truth = np.asarray(truth).astype(int)
    positive = float(truth.mean()) if len(truth) else 0.0
    return {"test_rows": int(len(truth)),
            "accuracy": float(accuracy_score(truth, p > 0.5)),
            "auc": float(roc_auc_score(truth, p)) if 0 < positive < 1 else float("nan"),
            "delayed_rate": positive,
            "majority_rate": max(positive, 1 - positive)}


def parse(argv):
    ap = argparse.ArgumentParser(
        description="Train an XGBoost flight-delay model on a Dask cluster.")
    ap.add_argument("address", nargs="?",
                    default=os.environ.get("DASK_SCHEDULER_ADDRESS"),
                    help="scheduler address (default: $DASK_SCHEDULER_ADDRESS)")
    ap.add_argument("--rows", type=int, default=200_000,
                    help="rows of generated data (default 200000)")
    ap.add_argument("--csv", help="read this airlines CSV instead of generating one")
    ap.add_argument("--partitions", type=int, default=8,
                    help="dataframe partitions (default 8)")
    ap.add_argument("--rounds", type=int, default=50,
                    help="boosting rounds (default 50)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", help="where generated data is cached "
                    "(default $XGB_DATA_DIR or a folder in the temp dir)")
    ap.add_argument("--connect-timeout", type=float, default=10.0,
                    help="seconds to wait for the scheduler (default 10)")
    args = ap.parse_args(argv)
    if not args.address:
        ap.error("no scheduler address: pass one or set DASK_SCHEDULER_ADDRESS")
    if args.rows < 10 or args.partitions < 1 or args.rounds < 1:
        ap.error("--rows must be >= 10, --partitions and --rounds >= 1")
    return args


def retrying(what, fn, *args, attempts=3):
    """Runs fn; on a lost connection to a worker (an elastic cluster retires
    idle workers at any time) says so and tries the step again."""
    for attempt in range(1, attempts + 1):
        try:
            return fn(*args)
        except OSError as e:       # CommClosedError, StreamClosedError, ...
            if attempt == attempts:
                raise
            say("%s: %s; the cluster changed under us, trying again"
                % (what, str(e).splitlines()[0] if str(e) else type(e).__name__))
            time.sleep(1)


def main(argv=None):
    args = parse(argv)
    import distributed  # noqa: F401  (imported after argument errors)
    client = connect(args.address, args.connect_timeout)
    timings = {}
    try:
        resources, tree_method, why = choose_device(client)
        say("connected to %s: %d worker(s); tree_method=%s (%s)"
            % (args.address, nworkers(client), tree_method, why))

        t = time.monotonic()
        path, made = data_path(args)
        if made:
            say("generated %d rows in %s (%.1fs)"
                % (args.rows, path, time.monotonic() - t))
        raw = load(client, path, args.partitions, resources)
        distributed.wait(raw)
        timings["load"] = time.monotonic() - t
        say("loaded %s: %d partitions (%.1fs, %d worker(s))"
            % (os.path.basename(path), raw.npartitions, timings["load"],
               nworkers(client)))

        t = time.monotonic()
        X_train, y_train, X_test, y_test = preprocess(client, raw, args.seed, resources)
        del raw
        timings["preprocess"] = time.monotonic() - t
        say("preprocessed: %d features, persisted (%.1fs, %d worker(s))"
            % (len(X_train.columns), timings["preprocess"], nworkers(client)))

        t = time.monotonic()
        booster, history = retrying("train", train, client, X_train, y_train,
                                    args.rounds, tree_method, resources, args.seed)
        timings["train"] = time.monotonic() - t
        say("trained %d rounds: train auc %.4f (%.1fs, %d worker(s))"
            % (args.rounds, history["train"]["auc"][-1], timings["train"],
               nworkers(client)))

        t = time.monotonic()
        metrics = retrying("evaluate", evaluate, client, booster, X_test, y_test,
                           resources)
        timings["evaluate"] = time.monotonic() - t
        say("evaluated on %d held-out rows (%.1fs)"
            % (metrics["test_rows"], timings["evaluate"]))
    finally:
        client.close()

    print("accuracy: %.4f  (always 'on time' would score %.4f)"
          % (metrics["accuracy"], metrics["majority_rate"]))
    print("AUC:      %.4f" % metrics["auc"])
    print("timings:  " + ", ".join("%s %.1fs" % kv for kv in timings.items()))
    result = dict(metrics, tree_method=tree_method,
                  timings={k: round(v, 3) for k, v in timings.items()})
    print("result: " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
