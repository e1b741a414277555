#!/usr/bin/env python3
# trace_poison.py, job version 1: Ashiato's forward poison trace on Apache Spark.
# Written for pyspark 4.0.1 (DataFrame API only; Java 17). Input: an `ashiato export`
# directory (layout "ashiato-parquet/1"). Semantics: docs/tracing.md and
# crates/trace/src/walker.rs, forward direction, poison policy, no dust or spray limits.
# Algorithm, limits and the cluster recipe: docs/scale-out.md.
#
#   spark-submit --master spark://HOST:7077 tools/spark/trace_poison.py \
#       --data EXPORT_DIR --incident NAME [--max-hops H|none] [--no-stop] [--no-paths] \
#       --out RESULT_DIR [--json-dir DIR]   (--incident and --max-hops repeat)
"""Forward poison trace of one incident over Parquet partitions, as rounds of joins.

A holder is an (address, asset) balance. Under poison, a send from a holder carries
taint iff the holder received followed taint at an earlier event; a seed's every send at
or after `since` is tainted. So the whole trace is fixed by one value per holder: the
first event at which followed taint reached it (and the hop and sender of that event).
That value is the least fixpoint of

    first(t) = min { e : transfer e moves amount > 0 from holder f to t,
                         t is no seed and no exit,
                         and either f is a seed and e is at or after `since` (hop 1)
                         or first(f) < e and hop(f) + 1 <= max_hops (hop hop(f) + 1) }

which each round recomputes from the previous round's table until nothing changes. The
recursion only looks at strictly earlier events, so it has exactly one solution, and an
unchanged round is that solution. Everything the walker reports (taint per holder, exits,
every summary total, paths) is then one more pass of joins and aggregations over it.
"""

import argparse
import json
import sys
import time

JOB_VERSION = 1
FORMAT = "ashiato-parquet/1"
NO_LIMIT = 2**31 - 1


class JobError(Exception):
    """Bad input or an inconsistent result; the message says where."""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="export directory (any Spark path)")
    p.add_argument("--incident", required=True, action="append",
                   help="incident name in incidents.json (repeat for several traces in one run)")
    p.add_argument("--max-hops", action="append", default=None,
                   help="hop limit, or 'none' (repeat: every incident is traced with each)")
    p.add_argument("--no-stop", action="store_true", help="do not stop at exit labels")
    p.add_argument("--no-paths", action="store_true", help="leave out address paths (exits keep theirs)")
    p.add_argument("--out", required=True,
                   help="result directory (Spark path); one INCIDENT.hops-H subdirectory per trace")
    p.add_argument("--json-dir", default=None,
                   help="also write each whole result as INCIDENT.hops-H.json here (driver-local)")
    p.add_argument("--shuffle-partitions", type=int, default=None)
    p.add_argument("--checkpoint-dir", default=None,
                   help="reliable checkpoints on shared storage instead of executor-local ones")
    p.add_argument("--max-rounds", type=int, default=100000)
    a = p.parse_args(argv)
    hops = []
    for h in a.max_hops or ["none"]:
        if h == "none":
            hops.append(None)
        elif h.isdigit():
            hops.append(int(h))
        else:
            p.error(f"--max-hops {h!r}: a number of 0 or more, or 'none'")
    a.max_hops = hops
    for name in a.incident:
        if not name or any(c in name for c in "/\\") or name.startswith("."):
            p.error(f"--incident {name!r}: the name is used as a directory name")
    return a


def read_text(spark, path):
    rows = spark.read.text(path, wholetext=True).collect()
    if len(rows) != 1:
        raise JobError(f"{path}: expected one file, found {len(rows)}")
    return rows[0][0]


def read_json(spark, path):
    try:
        return json.loads(read_text(spark, path))
    except json.JSONDecodeError as e:
        raise JobError(f"{path}: not JSON: {e}") from None


def main(argv):
    args = parse_args(argv)
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("ashiato-trace-poison").getOrCreate()
    try:
        job = Job(spark, args)
        for name in args.incident:
            for hops in args.max_hops:
                started = time.time()
                run = job.trace(name, hops)
                run["seconds"] = round(time.time() - started, 3)
                print(json.dumps(run), file=sys.stderr)
        return 0
    finally:
        spark.stop()


class Job:
    """One export, loaded once; traces of its incidents."""

    def __init__(self, spark, args):
        from pyspark.sql import functions as F

        self.spark, self.args = spark, args
        sc = spark.sparkContext
        spark.conf.set("spark.sql.shuffle.partitions",
                       str(args.shuffle_partitions or max(2, 2 * sc.defaultParallelism)))
        if args.checkpoint_dir:
            sc.setCheckpointDir(args.checkpoint_dir)
        data = self.data = args.data.rstrip("/")
        manifest = read_json(spark, f"{data}/MANIFEST.json")
        if manifest.get("format") != FORMAT:
            raise JobError(f"{data}/MANIFEST.json: format {manifest.get('format')!r}, this job reads {FORMAT!r}")
        if manifest.get("family") != "account":
            raise JobError(f"{data}: family {manifest.get('family')!r}; the job traces account chains")
        self.incidents = read_json(spark, f"{data}/{manifest['incidents']['file']}")

        tr = spark.read.parquet(*[f"{data}/{p['file']}" for p in manifest["transfers"]["parts"]])
        want = {"event": "bigint", "block": "bigint", "time": "bigint", "tx": "string",
                "from": "string", "to": "string", "asset": "string", "amount": "decimal(38,0)"}
        got = dict(tr.dtypes)
        if any(got.get(k) != v for k, v in want.items()):
            raise JobError(f"{data}: transfers have columns {got}, expected {want}")
        labels = spark.read.parquet(f"{data}/{manifest['labels']['file']}")
        # An address's label is its first exit label in store order (the CLI's stop list).
        first = labels.where(F.col("exit")).groupBy("address").agg(F.min(F.struct("position", "name")).alias("m"))
        exits = first.select(F.col("address").alias("x_addr"), F.col("m.name").alias("x_label"))
        tr = tr.join(F.broadcast(exits), tr["to"] == exits["x_addr"], "left").drop("x_addr")
        self.tr = self.keep(tr.select("event", "time", "tx", "from", "to", "asset", "amount", "x_label"))
        self.events = self.tr.count()
        if self.events != manifest["transfers"]["rows"]:
            raise JobError(f"{data}: the partitions hold {self.events} transfers, MANIFEST.json says "
                           f"{manifest['transfers']['rows']} (an incomplete copy?)")

    def keep(self, df):
        # Cuts the plan: without it round k would replan and recompute k rounds of joins.
        return df.checkpoint(eager=True) if self.args.checkpoint_dir else df.localCheckpoint(eager=True)

    def trace(self, name, max_hops):
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        args, keep = self.args, self.keep
        matching = [i for i in self.incidents if i["name"] == name]
        if not matching:
            names = ", ".join(sorted(i["name"] for i in self.incidents)) or "none"
            raise JobError(f"{self.data}: no incident named {name!r} (exported: {names})")
        incident = matching[0]
        if incident["seed_txs"]:
            raise JobError(f"incident {name!r} has seed transactions; "
                           "the Spark job traces seed addresses only (docs/scale-out.md, limits)")
        seeds = sorted(set(incident["seeds"]))
        if not seeds:
            raise JobError("no seeds: give at least one seed address or seed transaction")
        since = incident["since"]
        limit = NO_LIMIT if max_hops is None else max_hops

        tr = (self.tr.withColumn("from_seed", F.col("from").isin(seeds))
              .withColumn("to_seed", F.col("to").isin(seeds))
              .withColumn("active", F.lit(True) if since is None else F.col("time") >= F.lit(since))
              # A seed is never an exit (the walker flags exits only on non-seeds).
              .withColumn("exit_label", F.when(F.col("to_seed") | F.lit(args.no_stop), F.lit(None))
                          .otherwise(F.col("x_label"))))
        present = {r[0] for r in tr.where(F.col("from_seed")).select("from").distinct().collect()}
        present |= {r[0] for r in tr.where(F.col("to_seed")).select("to").distinct().collect()}
        for s in seeds:
            if s not in present:
                raise JobError(f"seed {s} does not appear in the data")

        # Sends that carry taint whatever happens elsewhere: a seed's, inside the window.
        seed_sends = tr.where(F.col("from_seed") & F.col("active"))
        # Sends that carry taint iff their sender already holds it (zero carries none).
        holder_sends = tr.where(~F.col("from_seed") & (F.col("amount") > 0))
        # Deliveries that can make the recipient a holder (no seed, no exit).
        can_hold = ~F.col("to_seed") & F.col("exit_label").isNull()
        no_path = F.array().cast(T.ArrayType(T.StringType()))

        def extend(path):
            return F.concat(path, F.array("tx"))

        seed_cand = keep(seed_sends.where((F.col("amount") > 0) & can_hold & F.lit(1 <= limit))
                         .select(F.col("to").alias("addr"), "asset", "event", F.lit(1).alias("hop"),
                                 extend(no_path).alias("path")))
        edges = keep(holder_sends.where(can_hold).select("from", "asset", "event", "to", "tx"))

        def senders(state):
            return state.select(F.col("addr").alias("from"), "asset", F.col("event").alias("f_event"),
                                F.col("hop").alias("f_hop"), F.col("path").alias("f_path"))

        def best(cands):
            # Events are unique, so the least (event, ...) is one delivery: the first.
            return (cands.groupBy("addr", "asset").agg(F.min(F.struct("event", "hop", "path")).alias("m"))
                    .select("addr", "asset", "m.event", "m.hop", "m.path"))

        state = keep(best(seed_cand))
        rounds = 1
        while True:
            if rounds >= args.max_rounds:
                raise JobError(f"no fixpoint after {rounds} rounds (--max-rounds)")
            cand = (edges.join(senders(state), ["from", "asset"])
                    .where((F.col("event") > F.col("f_event")) & (F.col("f_hop") + 1 <= limit))
                    .select(F.col("to").alias("addr"), "asset", "event", (F.col("f_hop") + 1).alias("hop"),
                            extend(F.col("f_path")).alias("path")))
            o = state.select("addr", "asset", *[F.col(c).alias("o_" + c) for c in ("event", "hop", "path")])
            # The new table beside the old one, so one pass both keeps it and tells what changed;
            # the path counts too, since it reaches a holder one round after its sender's.
            both = keep(best(cand.unionByName(seed_cand)).join(o, ["addr", "asset"], "full_outer")
                        .withColumn("same", F.col("event").eqNullSafe(F.col("o_event"))
                                    & F.col("hop").eqNullSafe(F.col("o_hop"))
                                    & F.col("path").eqNullSafe(F.col("o_path"))))
            rounds += 1
            changed = both.where(~F.col("same")).count()
            state = both.where(F.col("event").isNotNull()).select("addr", "asset", "event", "hop", "path")
            print(f"{name}: round {rounds}: {changed} holders changed", file=sys.stderr)
            if changed == 0:
                break
        state = keep(state)

        # Every delivery that carried taint, with its hop and the sender's path.
        s = senders(state)
        from_holders = (holder_sends.join(s, ["from", "asset"]).where(F.col("event") > F.col("f_event"))
                        .select("event", "tx", "to", "asset", "amount", "to_seed", "exit_label",
                                (F.col("f_hop") + 1).alias("hop"), "f_path", F.lit(False).alias("seed_send")))
        from_seeds = seed_sends.select("event", "tx", "to", "asset", "amount", "to_seed", "exit_label",
                                       F.lit(1).alias("hop"), no_path.alias("f_path"),
                                       F.lit(True).alias("seed_send"))
        deliveries = keep(from_holders.unionByName(from_seeds))
        zero = F.lit(0).cast("decimal(38,0)")

        def total(cond):
            return F.coalesce(F.sum(F.when(cond, F.col("amount"))), zero)

        carried = (F.col("amount") > 0) & ~F.col("to_seed")
        within = carried & (F.col("hop") <= limit)
        sums = deliveries.agg(
            F.count(F.lit(1)), total(F.col("seed_send")), total((F.col("amount") > 0) & F.col("to_seed")),
            total(carried & (F.col("hop") > limit)), total(within & F.col("exit_label").isNotNull())).first()
        tainted_events, entered, returned, cut, exited = sums
        held_rows = (deliveries.where(within & F.col("exit_label").isNull())
                     .groupBy(F.col("to").alias("addr"), "asset")
                     .agg(F.sum("amount").alias("taint"), F.min("event").alias("first")))
        exit_rows = (deliveries.where(within & F.col("exit_label").isNotNull())
                     .groupBy(F.col("to").alias("addr"), "asset", "exit_label")
                     .agg(F.sum("amount").alias("amount"), F.count(F.lit(1)).alias("transfers"),
                          F.min(F.struct("event", "f_path", "tx")).alias("m")))

        # Poison's `held`: every holder's whole final balance, where a send larger than the
        # balance finds the missing part as older clean value (B' = max(B, x)): the running
        # sum of its legs floored at zero after each step, i.e. sum - min(0, least prefix sum).
        from pyspark.sql.window import Window
        legs = (tr.where(~F.col("from_seed"))
                .select(F.col("from").alias("addr"), "asset", "event", F.lit(0).alias("side"),
                        (-F.col("amount")).alias("delta"))
                .unionByName(tr.select(F.col("to").alias("addr"), "asset", "event", F.lit(1).alias("side"),
                                       F.col("amount").alias("delta")))
                .join(state.select("addr", "asset"), ["addr", "asset"], "left_semi"))
        w = (Window.partitionBy("addr", "asset").orderBy("event", "side")
             .rowsBetween(Window.unboundedPreceding, Window.currentRow))
        held = (legs.withColumn("run", F.sum("delta").over(w)).groupBy("addr", "asset")
                .agg((F.sum("delta") - F.least(F.min("run"), zero)).alias("balance"))
                .agg(F.coalesce(F.sum("balance"), zero)).first()[0])

        dedup = "filter(path, (x, i) -> i = 0 OR x != path[greatest(i - 1, 0)])"
        addresses = keep(held_rows.join(state, ["addr", "asset"], "full_outer")
                         .select(F.col("addr").alias("address"), "asset", "taint", "hop",
                                 (no_path if args.no_paths else F.expr(dedup)).alias("path"), zero.alias("dust"),
                                 F.lit(0).alias("dust_transfers"), "first", "event"))
        # The fixpoint and the deliveries must tell the same story: each holder's first
        # followed receipt is the event the fixpoint chose.
        mismatch = addresses.where(~F.col("first").eqNullSafe(F.col("event"))).count()
        if mismatch:
            raise JobError(f"internal: {mismatch} holders disagree between fixpoint and deliveries")
        addresses = addresses.drop("first", "event").orderBy(F.col("taint").desc(), "address", "asset")
        exits_out = (exit_rows.select(F.col("addr").alias("address"), F.col("exit_label").alias("label"),
                                      "asset", "amount", "transfers",
                                      F.concat(F.col("m.f_path"), F.array(F.col("m.tx"))).alias("path"))
                     .withColumn("path", F.expr(dedup))
                     .orderBy(F.col("amount").desc(), "address", "asset"))

        tag = f"{name}.hops-{'none' if max_hops is None else max_hops}"
        out = f"{args.out.rstrip('/')}/{tag}"
        addresses.write.mode("overwrite").parquet(f"{out}/addresses")
        exits_out.write.mode("overwrite").parquet(f"{out}/exits")
        summary = {
            "entered": int(entered), "held": int(held), "exited": int(exited), "dust": 0,
            "lost_to_fees": 0, "cut_by_hops": int(cut), "returned_to_seeds": int(returned),
            "left_data": 0, "events": self.events, "tainted_events": tainted_events,
        }
        run = {"job": "trace_poison", "job_version": JOB_VERSION, "incident": name,
               "max_hops": max_hops, "stop_at_exits": not args.no_stop, "rounds": rounds,
               "events": self.events, "holders": state.count(), "spark": self.spark.version}
        self.spark.createDataFrame([(json.dumps(summary), json.dumps(run))], "summary string, run string") \
            .coalesce(1).write.mode("overwrite").json(f"{out}/summary")
        if args.json_dir:
            # The walker's JSON shape (TraceResult), so the two compare as values.
            result = {
                "policy": "poison", "direction": "forward",
                "addresses": [{"address": r.address, "asset": r.asset, "taint": int(r.taint), "hop": r.hop,
                               "path": list(r.path), "dust": 0, "dust_transfers": 0}
                              for r in addresses.toLocalIterator()],
                "exits": [{"address": r.address, "label": r.label, "asset": r.asset, "amount": int(r.amount),
                           "transfers": r.transfers, "path": list(r.path)}
                          for r in exits_out.toLocalIterator()],
                "summary": summary,
            }
            import os
            os.makedirs(args.json_dir, exist_ok=True)
            with open(os.path.join(args.json_dir, tag + ".json"), "w", encoding="utf-8") as f:
                json.dump(result, f, indent=2)
                f.write("\n")
        return run


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except JobError as e:
        print(f"trace_poison: {e}", file=sys.stderr)
        sys.exit(2)
