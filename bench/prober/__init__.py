"""Prober benchmark: vigie's full probe of a simulated fleet against raw asyncssh, Scrapli, Netmiko.

See ``bench/README.md`` ("Prober") and ``python -m bench.prober --help``.
"""
