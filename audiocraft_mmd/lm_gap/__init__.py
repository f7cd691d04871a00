"""`audiocraft-mmd lm-gap`: the report folder (wav files and a static, offline listening page)."""
