"""Explorers: the tables `dora grid mmd.*` prints."""
import treetable as tt
from audiocraft.grids.compression._explorers import CompressionExplorer
from audiocraft.grids.musicgen._explorers import LMExplorer


class CompressionMMDExplorer(CompressionExplorer):
    """Compression metrics plus the MMD and the codebook dependence (the columns of Fig. 2 and Table 3)."""

    def get_grid_metrics(self):
        return [
            tt.group("train", [
                tt.leaf("epoch"),
                tt.leaf("mmd", ".2e"),
                tt.leaf("mmd_time", ".2f"),
                tt.leaf("l1", ".4f"),
                tt.leaf("adv", ".4f"),
            ], align=">"),
            tt.group("valid", [
                tt.leaf("msspec", ".4f"),
                tt.leaf("sisnr", ".2f"),
            ], align=">"),
            tt.group("evaluate", [
                tt.leaf("mmd", ".2e"),
                tt.leaf("tc_percent_delay", ".4f"),
                tt.leaf("tc_percent_parallel", ".4f"),
                tt.leaf("mmd_scale_free", ".2e"),
                tt.leaf("latent_rms", ".3f"),
                tt.leaf("sisnr_db", ".2f"),
                tt.leaf("code_ablation_gap_db", ".1f"),
            ], align=">"),
        ]


class MusicGenMMDExplorer(LMExplorer):
    """LM metrics, the columns of Table 2 (FAD, KL, CLAP) and the decoding pattern of each LM."""

    def stages(self):
        return ['train', 'valid', 'evaluate']

    def get_grid_metrics(self):
        return [
            tt.group("lm", [tt.leaf("pattern")], align=">"),
            *super().get_grid_metrics(),
            tt.group("evaluate", [
                tt.leaf("fad", ".3f"),
                tt.leaf("kld", ".3f"),
                tt.leaf("text_consistency", ".3f"),
            ], align=">"),
        ]

    def process_sheep(self, sheep, history):
        parts = super().process_sheep(sheep, history)
        modeling = sheep.xp.cfg.codebooks_pattern.modeling
        parts['lm'] = {'pattern': 'flatten' if modeling == 'unroll' else modeling}
        return parts
