"""FlakeGuard pure logic: no I/O, no clock, no project imports."""
