"""Stage scheduling shared by the plugin's solvers."""


class SkipNullSplitStages:
    """Mixin for an audiocraft ``StandardSolver``: the evaluate and generate stages are skipped when their
    ``datasource`` split is null (audiocraft's own solvers would fail on the missing data loader)."""

    def should_run_stage(self, stage_name: str) -> bool:
        """As audiocraft, except that a stage whose datasource split is null is skipped."""
        if stage_name in ('evaluate', 'generate') and stage_name not in self.dataloaders:  # type: ignore
            return False
        return super().should_run_stage(stage_name)  # type: ignore
