"""The sync engine: lock → load → decide → plan → guard → persist → apply → record (docs/architecture.md)."""
