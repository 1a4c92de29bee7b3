#!/usr/bin/python3
"""`picket-collector migrate` applies every migration once and records the
version; running it again changes nothing; `serve` refuses a database whose
schema it does not know (empty, or newer than the binary) with a clear message;
a bad database URL names the problem; usage errors exit 2."""

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

        out2 = migrate(pg)
        assert "(0 migrations applied)" in out2, out2
        assert pg.psql("SELECT count(*) FROM picket_schema") == [[str(len(versions))]]

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
