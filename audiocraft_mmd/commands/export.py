"""``audiocraft-mmd export``: an LM and its tokenizer as the folder ``MusicGen.get_pretrained`` reads."""
import argparse
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        'export', help="export an LM and its tokenizer to a folder MusicGen.get_pretrained(folder) loads")
    export.add_argument('--lm', required=True, help="//sig/SIG of a solver=musicgen/mmd* XP, its checkpoint.th, "
                                                    "or an exported state_dict.bin")
    export.add_argument('--compression', help="the tokenizer: //sig/SIG, checkpoint.th, exported file or "
                                              "//pretrained/NAME (default: the LM's compression_model_checkpoint)")
    export.add_argument('out_dir', metavar='OUT_DIR', help="folder for state_dict.bin, compression_state_dict.bin "
                                                           "and export.json")
    export.add_argument('--force', action='store_true', help="replace an export already in OUT_DIR")
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export import export_musicgen
    result = export_musicgen(args.lm, Path(args.out_dir), compression=args.compression, overwrite=args.force)
    print(f"Wrote {result.lm_file} (LM, {result.lm_params / 1e6:.2f} M parameters) and {result.compression_file} "
          f"(tokenizer {result.tokenizer}).\nLoad with audiocraft.models.MusicGen.get_pretrained('{result.out_dir}') "
          f"or audiocraft_mmd.models.MusicGenMMD.get_pretrained('{result.out_dir}').")
    return 0
