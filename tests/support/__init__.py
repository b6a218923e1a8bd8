"""What the tests share: harnesses (emulator, sandbox, reliability), migration histories, the data round trip,
catalog snapshots and the paths of ``tests/examples``."""
