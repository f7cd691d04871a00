"""2-D points whose RVQ codes depend on each other by construction."""
from dataclasses import dataclass
import math

import torch


@dataclass(frozen=True)
class RotatedClusters:
    """Equal-weight Gaussian clusters at the corners of a square, each elongated along its own direction.

    A two-stage quantizer spends its first codebook on the cluster and its second on the position within
    it; the within-cluster spread points a different way in each cluster (by default alternately along x and
    along y), so the second code's distribution depends on the first code: the codebooks are dependent by
    construction (I ~ 11 % of the joint entropy for a point codec trained without the MMD). An encoder can
    remove that dependence without losing information, by rotating every cluster's spread onto the same
    direction: the MMD has something to find.

    Attributes:
        num_clusters: clusters, evenly spaced on a circle of radius ``radius * sqrt(2)``; cluster c is
            elongated along the angle ``c * angle_step`` (radians).
        radius: half the side of the square of centres (4 clusters: centres at (±radius, ±radius)).
        long_std, short_std: standard deviations along and across each cluster's direction.
    """
    num_clusters: int = 4
    angle_step: float = math.pi / 2
    radius: float = 2.
    long_std: float = 1.
    short_std: float = 0.1

    def centres(self) -> torch.Tensor:
        """[C, 2] cluster centres."""
        angles = math.pi / 4 + torch.arange(self.num_clusters, dtype=torch.float64) * 2 * math.pi / self.num_clusters
        return (self.radius * math.sqrt(2) * torch.stack([angles.cos(), angles.sin()], dim=1)).float()

    def sample(self, num_points: int, generator: torch.Generator) -> torch.Tensor:
        """[num_points, 2] points drawn with ``generator`` (cluster, then its Gaussian)."""
        cluster = torch.randint(0, self.num_clusters, (num_points,), generator=generator)
        noise = torch.randn(num_points, 2, generator=generator) * torch.tensor([self.long_std, self.short_std])
        angle = cluster.to(torch.float32) * self.angle_step
        cos, sin = angle.cos(), angle.sin()
        rotated = torch.stack([cos * noise[:, 0] - sin * noise[:, 1], sin * noise[:, 0] + cos * noise[:, 1]], dim=1)
        return self.centres()[cluster] + rotated

    @property
    def variance(self) -> float:
        """Total variance of a point (sum over the 2 coordinates): the MSE of a codec that transmits nothing."""
        return float(self.centres().pow(2).sum(dim=1).mean()) + self.long_std ** 2 + self.short_std ** 2
