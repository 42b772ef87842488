"""Key material: signing keys and JWKS, secrets and their keyed hashes, encryption at rest."""
