"""Pure domain logic: no I/O, no adapters; property-tested."""
