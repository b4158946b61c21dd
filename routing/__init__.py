"""The pure routing core: location in, 988 center out.

Nothing here imports Flask, Redis or a database. Tables and the county layer are loaded into
memory once per process (see `routing.engine.Router`) and swapped atomically on reload.
"""
