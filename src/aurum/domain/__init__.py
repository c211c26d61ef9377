"""Pure domain logic: identities, tenors, units, prices. No I/O, no environment, no frameworks."""
