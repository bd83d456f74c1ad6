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
resources={"GPU": 1} when the workers advertise GPUs, and the model trains
on the GPU when the workers' xgboost really can (see probe_worker): with
xgboost >= 2 `tree_method="hist"` with `device="cuda"`, else `device="cpu"`;
with xgboost 1.x `gpu_hist`, else `hist`.  Works with xgboost 1.7 to 3.x
and Dask 2022.12 to 2026 (dask-expr).

Prints a progress line per step with its timing (the first one says which
tree_method and device it chose, and why), then one line `result: {...}`
(JSON) with the metrics, tree_method, device and timings.  Exits 1 with a
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
    return len(client.nthreads())


def connect(address, timeout):
    import distributed
    try:
        return distributed.Client(address, timeout=timeout)
    except Exception as e:  # OSError, TimeoutError, ValueError (bad address)
        sys.exit("xgb_train: cannot connect to the Dask scheduler at %s: %s"
                 % (address, str(e) or type(e).__name__))


def _xgb_major(version):
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0


def probe_worker(try_cuda):
    """Runs on a worker: -> (xgboost version, CUDA usable?, why).

    A CUDA build alone proves nothing (the PyPI wheel is one, GPU or not),
    and xgboost >= 2 given device="cuda" without a visible GPU only warns
    and trains on the CPU.  So ask xgboost itself: train one round on 16
    rows for the CUDA device and read back the device it really used
    (xgboost < 2: gpu_hist raises without a usable GPU).  This covers the
    build, the driver, CUDA_VISIBLE_DEVICES and the GPU's support at once,
    in milliseconds (plus the CUDA context that training creates anyway)."""
    import json
    import numpy as np
    import xgboost
    version = xgboost.__version__
    if not try_cuda:
        return version, False, "not asked"
    try:
        if not xgboost.build_info().get("USE_CUDA"):
            return version, False, "xgboost %s is a CPU build" % version
    except Exception:
        return version, False, "xgboost %s has no build info" % version
    new_api = int(version.split(".")[0]) >= 2
    params = ({"tree_method": "hist", "device": "cuda"} if new_api
              else {"tree_method": "gpu_hist"})
    X = np.arange(32, dtype=np.float32).reshape(16, 2)
    y = (X[:, 0] > 15).astype(np.float32)
    try:
        with xgboost.config_context(verbosity=0):
            booster = xgboost.train(params, xgboost.DMatrix(X, label=y),
                                    num_boost_round=1)
            device = "cuda"
            if new_api:
                device = json.loads(booster.save_config())["learner"][
                    "generic_param"].get("device", "cpu")
    except Exception as e:
        msg = str(e).strip().splitlines()
        return version, False, "xgboost %s cannot train on CUDA: %s" % (
            version, msg[0] if msg else type(e).__name__)
    if not device.startswith("cuda"):
        return version, False, "xgboost %s is a CUDA build but sees no GPU" % version
    return version, True, "xgboost %s trains on %s" % (version, device)


def device_params(xgb_version, cuda):
    """The xgboost parameters that pick the device, for that version:
    xgboost >= 2 has `device` (and 3.1 dropped tree_method="gpu_hist");
    1.x knows only tree_method."""
    if _xgb_major(xgb_version) >= 2:
        return {"tree_method": "hist", "device": "cuda" if cuda else "cpu"}
    return {"tree_method": "gpu_hist" if cuda else "hist"}


def _resources(dask_scheduler):
    return [dict(ws.resources) for ws in dask_scheduler.workers.values()]


def choose_device(client):
    """-> (task resources or None, xgboost device parameters, why)."""
    import xgboost
    # asked of the scheduler itself: client.scheduler_info() returns the
    # client's cache, which its own periodic refresh empties now and then
    gpu = any(r.get("GPU") for r in client.run_on_scheduler(_resources))
    resources = {"GPU": 1} if gpu else None
    try:
        probes = client.run(probe_worker, gpu, on_error="return")
    except Exception as e:      # e.g. the scheduler went away
        probes = {"?": e}
    # a worker retired meanwhile (an elastic cluster does) does not count
    probes = {w: p for w, p in probes.items() if not isinstance(p, OSError)} or probes
    versions = {p[0] for p in probes.values() if isinstance(p, tuple)}
    # the workers train, so their xgboost decides the parameters
    version = versions.pop() if len(versions) == 1 else xgboost.__version__
    if not gpu:
        return resources, device_params(version, False), "workers advertise no GPU"
    failed = {}
    for p in probes.values():
        if not isinstance(p, tuple):
            why = "the probe failed (%s)" % (str(p).strip() or type(p).__name__)
        elif not p[1]:
            why = p[2]
        else:
            continue
        failed[why] = failed.get(why, 0) + 1
    if not probes or failed:
        why = "; ".join("%d of %d worker(s): %s" % (n, len(probes), w)
                        for w, n in sorted(failed.items())) or "no worker answered"
        return resources, device_params(version, False), \
            "workers advertise GPUs but xgboost cannot use them: " + why
    return resources, device_params(version, True), \
        "workers have GPUs and " + sorted(p[2] for p in probes.values())[0]


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


def train(client, X, y, rounds, device, resources, seed):
    import dask
    import xgboost.dask
    # hist sketches the features once into quantile bins; the quantile matrix
    # builds them straight from the partitions (xgboost >= 1.7)
    dtrain = xgboost.dask.DaskQuantileDMatrix(client, X, y)
    params = dict(device, objective="binary:logistic",
                  eval_metric=["logloss", "auc"], max_depth=6, eta=0.3, seed=seed)
    with dask.annotate(**({"resources": resources} if resources else {})):
        out = xgboost.dask.train(client, params, dtrain, num_boost_round=rounds,
                                 evals=[(dtrain, "train")])
    return out["booster"], out["history"]


def evaluate(client, booster, X, y, resources):
    import numpy as np
    import xgboost.dask
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
        resources, device, why = choose_device(client)
        tree_method = device["tree_method"]
        on = device.get("device") or ("cuda" if tree_method == "gpu_hist" else "cpu")
        say("connected to %s: %d worker(s); tree_method=%s device=%s (%s)"
            % (args.address, nworkers(client), tree_method, on, why))

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
                                    args.rounds, device, resources, args.seed)
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
    result = dict(metrics, tree_method=tree_method, device=on,
                  timings={k: round(v, 3) for k, v in timings.items()})
    print("result: " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
