"""What the bench/ scripts share; see bench/README.md for how to write a new bench.

Run a bench as ``python bench/NAME.py``: Python puts ``bench/`` first on ``sys.path``,
so ``from harness.databases import fresh_database`` needs no installing.

* ``databases``: a fresh migrated database per backend, default server URLs, ``settle``.
* ``workload``: the messages, batch and claim sizes, operation names, loss checks.
* ``timing``: timed phases (``Phase``), per-request latencies, threads released together.
* ``rounds``: warm-up then interleaved best-of-N rounds, kept per (side, operation).
* ``report``: markdown tables, percentiles, the environment line, the noise line.
* ``cli``: the common flags and the loop over backends (unreachable ones are skipped).
* ``server``: a ``sqlqueue serve`` subprocess on a free port, and its workers' CPU.
* ``clients``: the three queue operations over HTTP (Zaqar v2) or on ``SqlDataDriver``.
* ``bulk``: deep queues loaded with bulk SQL, statistics, PostgreSQL autovacuum off.
* ``profiling``: a cProfile summarised by area (SQLAlchemy, driver, sqlqueue, ...).
"""
