"""Kernel throughput benchmarks of activations (``python -m suite bench``).

``run.run(acts, ...)`` times each activation's forward, backward and forward+backward
against a same-bytes copy and ReLU measured in the same run and returns store records;
``endtoend`` times a small CNN training step. See docs/readme/bench.md.
"""
