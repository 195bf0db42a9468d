"""reflow-actors: durable workflow execution, embedded, on one SQLite file."""
