"""The ``reflow`` command line, one module per command group (entry point: :mod:`..cli`).

::

    cli.main ──parses with──► parser ──dispatches to──► runs / events / schedules / worker / demo
                                                           │
                          database (opens --db) ◄──────────┤
                          render (tables, JSON) ◄──────────┤
                          app (loads module:engine) ◄──────┘

Nothing here is public API: the command line itself is the interface.
"""
