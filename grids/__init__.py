"""Dora grids of audiocraft-mmd: ``dora -P audiocraft_mmd grid mmd.<name>``."""
