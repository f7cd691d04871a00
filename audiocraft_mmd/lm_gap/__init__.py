"""`audiocraft-mmd lm-gap`: how much a parallel (delay) LM loses against a joint (flatten) one on the tokens
of each tokenizer, with a static offline listening page."""
