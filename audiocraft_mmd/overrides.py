"""Compose a Hydra config from overrides, turning misspelt keys, config names and values of the wrong shape
into one-line errors.

Hydra stops at the first key it cannot override and suggests ``+key=value``, which is wrong for a typo.
:func:`compose_checked` finds every such override, every ``+key`` added next to an existing key it
nearly spells (``+mmd.wieght=3`` beside ``mmd.weight``), and every value whose shape does not fit its key
(``mmd.pattern=coarse_first`` where ``mmd.pattern`` is a group of keys, which Dora would stop on with an
assertion), and reports them together with the form that works.
"""
import re
import typing as tp
from pathlib import Path

import omegaconf
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

from .errors import ConfigurationError, nearest_key, raise_all

ADDED_KEY_CUTOFF = 0.8  # an added key this close to an existing sibling is taken for a typo of it
_FAILED_KEY = re.compile(r"Could not override '([^']+)'")


def compose_checked(compose: tp.Callable[[tp.List[str]], omegaconf.DictConfig], overrides: tp.Sequence[str],
                    config_dirs: tp.Sequence[Path] = ()) -> omegaconf.DictConfig:
    """``compose(overrides)``, or a `ConfigurationError` naming every override that cannot work.

    Args:
        compose: composes the config of a list of overrides (raises Hydra's errors).
        overrides: the user's overrides (``key=value``, ``+key=value``, ``group=option``...).
        config_dirs: config trees searched for the options of a config group (for misspelt options).
    """
    overrides = list(overrides)
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as exc:
        raise ConfigurationError(f"Cannot parse the overrides: {str(exc).splitlines()[0]} "
                                 "(see https://hydra.cc/docs/advanced/override_grammar/basic/).") from None
    remaining = list(zip(overrides, parsed))
    failed: tp.List[tp.Tuple[str, Override]] = []
    misshapen: tp.Dict[str, ConfigurationError] = {}
    while True:
        try:
            cfg = compose([text for text, _ in remaining])
            break
        except MissingConfigException as exc:
            raise _missing_option(exc, parsed, config_dirs) from None
        except ConfigCompositionException as exc:
            index = _failed_override(exc, remaining)
            if index is not None:
                failed.append(remaining.pop(index))
                continue
            wrong = _shape_errors(compose, remaining, config_dirs)  # Hydra refuses some (a list for a group)
            if not wrong:  # not a key of the overrides: Hydra's own message says what is wrong
                raise ConfigurationError(str(exc).strip()) from exc
            misshapen.update(wrong)
            remaining = [(text, override) for text, override in remaining if text not in wrong]
    errors = [_unknown_key(text, override, cfg) for text, override in failed]
    errors += [error for text, override in remaining if (error := _added_typo(text, override, cfg)) is not None]
    misshapen.update(_shape_errors(compose, remaining, config_dirs))  # Dora would refuse the others with an assertion
    raise_all(errors + [misshapen[text] for text in overrides if text in misshapen])
    return cfg


def _failed_override(exc: ConfigCompositionException,
                     remaining: tp.Sequence[tp.Tuple[str, Override]]) -> tp.Optional[int]:
    match = _FAILED_KEY.search(str(exc))
    if match is None:
        return None
    return next((index for index, (_, override) in enumerate(remaining) if override.key_or_group == match.group(1)
                 and not override.is_add() and not override.is_force_add()), None)


def _unknown_key(text: str, override: Override, cfg: omegaconf.DictConfig) -> ConfigurationError:
    key = override.key_or_group
    parent, _, name = key.rpartition('.')
    node = omegaconf.OmegaConf.select(cfg, parent) if parent else cfg
    while node is None and parent:  # the parent does not exist either: look one level up
        parent, _, name = parent.rpartition('.')
        node = omegaconf.OmegaConf.select(cfg, parent) if parent else cfg
    prefix = f"{parent}." if parent else ''
    if not isinstance(node, omegaconf.DictConfig):
        return ConfigurationError(f"{text}: {prefix.rstrip('.')} is not a config node with keys.")
    near = nearest_key(name, [str(k) for k in node.keys()])
    if near is not None:
        return ConfigurationError(f"{text}: unknown key {key}; did you mean {prefix}{near}?")
    return ConfigurationError(f"{text}: unknown key {key} ({prefix.rstrip('.') or 'the config'} has no key {name!r}); "
                              f"to add a new key on purpose, write +{text}.")


def _added_typo(text: str, override: Override, cfg: omegaconf.DictConfig) -> tp.Optional[ConfigurationError]:
    if not override.is_add():
        return None
    parent, _, name = override.key_or_group.rpartition('.')
    node = omegaconf.OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, omegaconf.DictConfig):
        return None
    siblings = [str(k) for k in node.keys() if str(k) != name]
    near = nearest_key(name, siblings, cutoff=ADDED_KEY_CUTOFF)
    if near is None:
        return None
    prefix = f"{parent}." if parent else ''
    return ConfigurationError(f"{text}: adds {override.key_or_group} next to {prefix}{near}; did you mean "
                              f"{prefix}{near}={override.value()}?")


def _missing_option(exc: MissingConfigException, parsed: tp.Sequence[Override],
                    config_dirs: tp.Sequence[Path]) -> ConfigurationError:
    missing = str(getattr(exc, 'missing_cfg_file', '') or '')
    for override in parsed:
        group = override.key_or_group
        value = override.value()
        if isinstance(value, str) and missing.endswith(f"{group}/{value}"):
            options = sorted({p.relative_to(d / group).with_suffix('').as_posix()
                              for d in config_dirs if (d / group).is_dir() for p in (d / group).rglob('*.yaml')})
            near = nearest_key(value, options)
            hint = f"did you mean {group}={near}?" if near else f"options: {', '.join(options[:20])}"
            return ConfigurationError(f"{group}={value}: no such config in group {group!r}; {hint}")
    return ConfigurationError(str(exc).splitlines()[0])


def _shape_errors(compose: tp.Callable[[tp.List[str]], omegaconf.DictConfig],
                  overrides: tp.Sequence[tp.Tuple[str, Override]],
                  config_dirs: tp.Sequence[Path]) -> tp.Dict[str, ConfigurationError]:
    """The error of every ``key=value`` (by its text) whose value is a single value, a list or null where the
    config composed without such overrides holds a group of keys, or a group where it holds a single value or
    a list."""
    changes = [_changes_a_value(override, config_dirs) for _, override in overrides]
    if not any(changes):
        return {}
    try:
        base = compose([text for (text, _), change in zip(overrides, changes) if not change])
    except ConfigCompositionException:  # another override is wrong: the caller reports Hydra's message
        return {}
    errors = {}
    for (text, override), change in zip(overrides, changes):
        key = override.key_or_group
        node = omegaconf.OmegaConf.select(base, key, default=_ABSENT)
        if not change or node is _ABSENT or node is None:  # a new or null key takes any shape
            continue
        value, written = override.value(), text.split('=', 1)[1]
        if isinstance(node, omegaconf.DictConfig) and not isinstance(value, dict):
            keys = [str(k) for k in node.keys()]
            child = next((k for k in keys if _kind(_get(node, k)) == _kind(value)), None) or \
                next((k for k in keys if _kind(_get(node, k)) not in ('group', 'list')), '<KEY>')
            what = 'null' if value is None else 'a list' if isinstance(value, list) else 'a single value'
            errors[text] = ConfigurationError(
                f"{text}: {key} is a group of keys ({', '.join(keys[:8])}{', ...' if len(keys) > 8 else ''}), not "
                f"{what}; set one of its keys: {key}.{child}={written}")
        elif isinstance(value, dict) and not isinstance(node, omegaconf.DictConfig):
            parent, _, name = key.rpartition('.')
            siblings = omegaconf.OmegaConf.select(base, parent) if parent else base
            meant = next((k for k in map(str, siblings.keys()) if k.startswith(f"{name}_")
                          and _kind(_get(siblings, k)) in ('group', 'NoneType')), None)
            hint = f"did you mean {parent}{'.' if parent else ''}{meant}={written}?" if meant else f"write {key}=VALUE."
            shape = 'a list' if isinstance(node, omegaconf.ListConfig) else 'a single value'
            shown = omegaconf.OmegaConf.to_container(node) if isinstance(node, omegaconf.ListConfig) else node
            errors[text] = ConfigurationError(f"{text}: {key} is {shape} (now {shown}), not a group of keys; {hint}")
    return errors


_ABSENT = object()  # OmegaConf.select's default for a key that is not in the config


def _changes_a_value(override: Override, config_dirs: tp.Sequence[Path]) -> bool:
    """Whether ``override`` sets a config key (``key=value``, ``++key=value``): not an option of a config group,
    an added key or a deletion."""
    if override.is_add() or override.is_delete() or override.is_sweep_override() or override.package is not None:
        return False
    group = override.key_or_group.replace('.', '/')
    return not any((Path(d) / group).is_dir() for d in config_dirs)


def _get(node: omegaconf.DictConfig, key: str) -> tp.Any:
    """``node[key]``, None where it is missing (``???``) or does not resolve."""
    try:
        return node[key]
    except omegaconf.errors.OmegaConfBaseException:
        return None


def _kind(value: tp.Any) -> str:
    """The shape of a value: 'group', 'list', 'number', or its type's name (str, bool, NoneType)."""
    if isinstance(value, (dict, omegaconf.DictConfig)):
        return 'group'
    if isinstance(value, (list, omegaconf.ListConfig)):
        return 'list'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 'number'
    return type(value).__name__
