"""What the commands that train and measure XPs share (`demo`, `lm-gap`): each command is a pipeline over these.

- `xp`: the XP type (an argv for the plugin's Dora main and where its folder is) and the epoch schedule;
- `runner`: training XPs as ``dora run`` subprocesses, a few at a time, with progress bars and signal handling;
- `recipes`: the codec and LM recipes as functions of their parameters (`codec_argv`, `lm_argv`, `start_argv`);
- `start`: the start codec every fine-tuned codec starts from (shipped, trained or named);
- `music`: the music a command trains and measures on;
- `measure`: one codec's figures on a manifest (cached beside its XP) and the working-codec checks;
- `cache`: the keyed JSON cache the measurements use;
- `seeds`: mean and interval tables over seeds and the per-seed bar plot;
- `table`: the text tables the commands print;
- `options`: the option checks the commands share.
"""
