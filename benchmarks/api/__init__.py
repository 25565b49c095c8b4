"""`python -m benchmarks.api_throughput`: signed SubmitSnapshotJob throughput and end-to-end job latency.

One module per job:

- `wire`: the ICE calls the benchmark sends, signed with the service's own signer (service/api/auth/signing.py);
- `loadgen`: the load generator process (closed loop or constant rate), `python -m benchmarks.api.loadgen`;
- `cpu`: CPU time by process (API, PostgreSQL, RabbitMQ, generator, others) and waiting for a quiet machine;
- `services`: what a run owns (database, broker names, temp dir) and the `snapshotd` processes it starts;
- `broker`: the outbox and jobs-queue gauges sampled during a run;
- `throughput`: the throughput phases (warm-up, ramp, fixed rates, profile) of one API process;
- `profile`: py-spy's collapsed stacks summarised by where the time goes;
- `e2e`: one-image jobs timed from submit to their completion event;
- `targets`, `stats`: the issue's targets, and percentiles;
- `report`: the progress lines and the summary tables;
- `cli`: the options and the run from start to clean-up.
"""
