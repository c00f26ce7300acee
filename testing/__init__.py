"""The harness shared by the tests and the benchmarks: SIPp runs, the media probe, a scripted caller, scripted
call hooks. Never imported by the product (an import contract checks it)."""
