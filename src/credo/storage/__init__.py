"""Storage behind small interfaces: `protocols` defines them, `memory` and `sql` implement them."""
