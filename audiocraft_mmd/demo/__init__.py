"""`audiocraft-mmd demo`: the effect of the MMD on real music, on a CPU, in minutes."""
