#!/usr/bin/python3
"""`picket-collector migrate` applies every migration once and records the
version; running it again changes nothing; `serve` refuses a database whose
schema it does not know (empty, or newer than the binary) with a clear message;
a bad database URL names the problem; usage errors exit 2. Raw results older
than any rollup make migrate print a notice, and `rollup-backfill` builds
their rollups (twice: the same rows)."""

import re
import subprocess

from picket_env import PrivatePostgres, binary, migrate


def run(*args, timeout=30):
    return subprocess.run([binary("picket-collector")] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def main():
    with PrivatePostgres() as pg:
        # An empty database: serve refuses and says what to do.
        r = run("serve", "--db", pg.url, "--listen", "127.0.0.1:0")
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "picket-collector migrate" in r.stderr, r.stderr

        out = migrate(pg)
        assert "applied" in out, out
        versions = pg.psql("SELECT version FROM picket_schema ORDER BY version")
        assert len(versions) >= 1 and versions[0] == ["1"], versions
        tables = {r[0] for r in pg.psql("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
        for t in ("probes", "checks", "probe_checks", "results", "picket_schema"):
            assert t in tables, (t, tables)

        # The hot table keeps one index, the one every reader of results uses
        # (migration 040 dropped the unused (probe_id, seq) one).
        idx = pg.psql("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
                      "WHERE tablename = 'results'")
        assert idx == [["results_check_started_idx"]], idx
        # The rollup tables the compaction updates in place leave room on their
        # pages for those updates (migration 041).
        ff = pg.psql("SELECT string_agg(relname || ':' || array_to_string(reloptions, ','), ' ' ORDER BY relname) "
                     "FROM pg_class WHERE relname IN ('rollup_day', 'rollup_check_day', 'rollup_hour', "
                     "'rollup_check_hour', 'check_hour_days')")
        assert ff == [["check_hour_days:fillfactor=70 rollup_check_day:fillfactor=70 rollup_check_hour:fillfactor=70 "
                       "rollup_day:fillfactor=70 rollup_hour:fillfactor=70"]], ff

        # Day rows are written once, when their day closes (migration 042): the
        # mark of the closed days starts at the compaction watermark's day.
        marks = pg.psql("SELECT string_agg(name || '=' || (upto AT TIME ZONE 'UTC')::text, ' ' ORDER BY name) "
                        "FROM rollup_watermark")
        assert marks == [["compact=1970-01-01 00:00:00 days=1970-01-01 00:00:00"]], marks

        # The days around now are partitioned before the first result arrives
        # (yesterday to three days ahead, and the fourth unless this ran at
        # midnight sharp), so no fresh installation's first results wait in
        # results_default for the leader's first upkeep.
        made = re.search(r"results: (\d) daily partitions made", out)
        assert made and made.group(1) in ("5", "6"), out
        days = pg.psql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'results'::regclass "
                       "AND inhrelid::regclass::text IN (SELECT 'results_' || to_char(d, 'YYYYMMDD') FROM "
                       "generate_series((now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 3, "
                       "interval '1 day') d)")
        assert days == [["5"]], days

        out2 = migrate(pg)
        assert "(0 migrations applied)" in out2, out2
        assert "partition" not in out2, out2
        assert pg.psql("SELECT count(*) FROM picket_schema") == [[str(len(versions))]]

        # Results without rollups (a restore of `results` alone): migrate says so,
        # rollup-backfill builds them, a second run changes nothing.
        pg.psql("INSERT INTO probes (name, region) VALUES ('old-probe', 'eu'); "
                "INSERT INTO checks (name, type) VALUES ('old-check', 'http'); "
                "INSERT INTO results (probe_id, seq, check_id, started_at, outcome, error_class, total_us) "
                "SELECT (SELECT id FROM probes), i, (SELECT id FROM checks), "
                "date_trunc('day', now()) - interval '2 days' + i * interval '1 minute', 1 + (i % 5 = 0)::int * 2, "
                "0, 1000 * i FROM generate_series(1, 300) i")
        r = run("migrate", "--db", pg.url)
        assert r.returncode == 0 and "rollup-backfill --since" in r.stderr, (r.returncode, r.stderr)
        r = run("rollup-backfill", "--db", pg.url, "--since", "yesterday")
        assert r.returncode == 2 and "--since 'yesterday'" in r.stderr, (r.returncode, r.stderr)
        digests = []
        for _ in range(2):
            r = run("rollup-backfill", "--db", pg.url)
            assert r.returncode == 0 and "rebuilt 1 day: 300 results" in r.stdout, (r.returncode, r.stdout, r.stderr)
            digests.append(pg.psql("SELECT ok, failed, md5(hist) FROM rollup_day UNION ALL "
                                   "SELECT sum(ok), sum(failed), count(*)::text FROM rollup_minute"))
        assert digests[0] == digests[1] and digests[0][0][:2] == ["240", "60"], digests
        r = run("migrate", "--db", pg.url)
        assert r.returncode == 0 and "rollup-backfill" not in r.stderr, r.stderr

        # A schema from the future: refuse to run on it.
        pg.psql("INSERT INTO picket_schema(version, name) VALUES (9999, '9999_future.sql')")
        r = run("serve", "--db", pg.url, "--listen", "127.0.0.1:0")
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "newer" in r.stderr, r.stderr

    r = run("migrate", "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert r.returncode == 1 and r.stderr.strip(), (r.returncode, r.stderr)
    r = run("serve")
    assert r.returncode == 2 and "PICKET_DB_URL" in r.stderr, (r.returncode, r.stderr)
    r = run("--writers", "zero")
    assert r.returncode == 2 and "--writers" in r.stderr, r.stderr
    r = run("--help")
    assert r.returncode == 0 and "usage:" in r.stdout
    print("migrate: all assertions passed")


if __name__ == "__main__":
    main()
