"""Plain domain objects shared by every layer. No I/O, no framework."""
