"""Compatibility of audiocraft 1.3 artefacts with torch from AudioCraft's pinned 2.1 to the locked 2.10."""
import typing as tp

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf


def safe_loader_takes_allowlist() -> bool:
    """Whether ``torch.load(weights_only=True)`` can be taught audiocraft's config types (torch >= 2.4,
    ``torch.serialization.add_safe_globals``). Before that, the safe loader refuses every training checkpoint
    (they hold the XP's OmegaConf config), and ``torch.load`` unpickles in full by default, as AudioCraft
    itself loads checkpoints on its pinned torch 2.1."""
    return hasattr(torch.serialization, 'add_safe_globals')


def allow_audiocraft_checkpoints() -> None:
    """Let ``torch.load``'s default ``weights_only=True`` (torch >= 2.6) read audiocraft checkpoints.

    audiocraft's ``load_checkpoint`` calls ``torch.load`` without ``weights_only``; its training
    checkpoints hold the XP's OmegaConf config. This allow-lists exactly the OmegaConf container
    and node types (plain data, no code) instead of turning the safe loader off. Nothing to do
    on a torch whose safe loader takes no allow-list (`safe_loader_takes_allowlist`).
    """
    if not safe_loader_takes_allowlist():
        return
    from collections import defaultdict
    from omegaconf import nodes
    from omegaconf.base import ContainerMetadata, Metadata
    node_types = [getattr(nodes, name) for name in ('AnyNode', 'StringNode', 'IntegerNode', 'FloatNode',
                                                     'BooleanNode', 'BytesNode', 'PathNode', 'EnumNode')
                  if hasattr(nodes, name)]
    torch.serialization.add_safe_globals([DictConfig, ListConfig, ContainerMetadata, Metadata, tp.Any, dict, list,
                                          int, float, str, bool, defaultdict, *node_types])


def safe_checkpoint_state(state: tp.Any) -> tp.Any:
    """Copy of a solver state that ``torch.load(weights_only=True)`` can rebuild (other values shared).

    torch's safe loader cannot fill a ``defaultdict``: audiocraft's EMA keeps its state in one, and
    a used OmegaConf config caches resolved interpolations in one. Each ``defaultdict`` becomes a
    ``dict`` (audiocraft's EMA copies saved tensors into its own state, so loading is unaffected)
    and each config is re-created resolved, with empty caches.
    """
    if isinstance(state, (DictConfig, ListConfig)):
        return OmegaConf.create(OmegaConf.to_container(state, resolve=True))
    if isinstance(state, dict):
        return {key: safe_checkpoint_state(value) for key, value in state.items()}
    if isinstance(state, list):
        return [safe_checkpoint_state(value) for value in state]
    return state
