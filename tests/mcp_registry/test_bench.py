"""The guard's benchmark runs and prints both contenders and their ratio for RS256 and ES256."""

from concurrent.futures import ThreadPoolExecutor

from bench.guard_verify import main


def test_guard_benchmark_prints_a_ratio_per_algorithm(capsys):
    with ThreadPoolExecutor(1) as pool:  # its own event loops, away from any left in the test thread
        pool.submit(main, ["--seconds", "0.06"]).result()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:1] == ["alg"] and "ratio" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"RS256", "ES256"}
    for row in rows.values():
        bare, guarded, ratio = (float(x.replace(",", "")) for x in row[1:4])
        assert bare > 0 and guarded > 0 and abs(ratio - guarded / bare) < 0.02
