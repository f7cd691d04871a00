"""Compatibility of audiocraft 1.3 artefacts with the current torch."""
import typing as tp

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf


def allow_audiocraft_checkpoints() -> None:
    """Let ``torch.load``'s default ``weights_only=True`` (torch >= 2.6) read audiocraft checkpoints.

    audiocraft's ``load_checkpoint`` calls ``torch.load`` without ``weights_only``; its training
    checkpoints hold the XP's OmegaConf config. This allow-lists exactly the OmegaConf container
    and node types (plain data, no code) instead of turning the safe loader off.
    """
    from collections import defaultdict
    from typing import Any
    from omegaconf import nodes
    from omegaconf.base import ContainerMetadata, Metadata
    node_types = [getattr(nodes, name) for name in ('AnyNode', 'StringNode', 'IntegerNode', 'FloatNode',
                                                     'BooleanNode', 'BytesNode', 'PathNode', 'EnumNode')
                  if hasattr(nodes, name)]
    torch.serialization.add_safe_globals([DictConfig, ListConfig, ContainerMetadata, Metadata, Any, dict, list,
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
