"""PostgreSQL adapter tests; they need a server: see ``.ci/postgres.sh``."""
