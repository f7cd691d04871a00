"""Explorers: the tables `dora grid mmd.*` prints."""
import treetable as tt
from audiocraft.grids.compression._explorers import CompressionExplorer


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
                tt.leaf("sisnr", ".2f"),
            ], align=">"),
        ]
