"""Make ``s.decomposition(algorithm="constrained_nmf")`` work on HyperSpy signals.

HyperSpy has no registry of decomposition names: they are hard-coded in
``hyperspy.learn._mva.MVA.decomposition`` and
``hyperspy._signals.lazy.LazySignal.decomposition``. :func:`install` wraps
both methods (it runs on ``import hyperspy_cnmf``): a call naming
``"constrained_nmf"`` goes to :func:`hyperspy_cnmf.decomposition`; every other
call goes to HyperSpy untouched (an unknown name still raises HyperSpy's own
error), and the ``cnmf_`` keys of a previous constrained NMF are removed once
another decomposition has replaced it.
"""

from __future__ import annotations

import functools
import inspect
import textwrap

from .decomposition import decomposition, estimator_parameters, signal_arguments
from .results import ALGORITHM, clear_results

__all__ = ["install", "uninstall", "is_installed", "DispatchError"]

_MARK = "_hyperspy_cnmf_original"

# Arguments of HyperSpy's decomposition passed on to ours.
_FORWARDED = (
    "normalize_poissonian_noise",
    "output_dimension",
    "centre",
    "navigation_mask",
    "signal_mask",
    "reproject",
    "return_info",
    "print_info",
)


def _note() -> str:
    """The note added to HyperSpy's docstring; the names come from
    :func:`~hyperspy_cnmf.decomposition`'s signature and the estimator's
    parameters, so that none is missing."""
    own = [n for n in signal_arguments() if n not in _FORWARDED]
    names = ", ".join(f"``{n}``" for n in (*own, *estimator_parameters()))
    text = (
        f'``algorithm="{ALGORITHM}"`` (added by hyperspy_cnmf) runs the '
        "constrained NMF of Kimoto et al. (Sci. Rep. 2025), lazily or not; "
        f"``output_dimension`` is required and its own keyword arguments "
        f"({names}) are documented in :func:`hyperspy_cnmf.decomposition`."
    )
    lines = textwrap.wrap(text, 66, break_on_hyphens=False)
    return "\n        .. note::\n" + "".join(f"            {line}\n" for line in lines)


_FALLBACK = (
    "use hyperspy_cnmf.decomposition(s, output_dimension=k, ...) or "
    "s.decomposition(algorithm=hyperspy_cnmf.ConstrainedNMF(k, ...)) instead"
)


class DispatchError(RuntimeError):
    """HyperSpy's decomposition is not where hyperspy_cnmf expects it."""


def _hyperspy_version() -> str:
    try:
        from importlib.metadata import version

        return version("hyperspy")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


def _targets():
    """HyperSpy's classes that define ``decomposition``, checked."""
    try:
        from hyperspy._signals.lazy import LazySignal
        from hyperspy.learn._mva import MVA
    except ImportError as error:
        raise DispatchError(
            f"HyperSpy {_hyperspy_version()} has moved the classes that "
            f"hyperspy_cnmf extends ({error}); algorithm='{ALGORITHM}' is not "
            f"available by name: {_FALLBACK}"
        ) from None
    targets = (MVA, LazySignal)
    for cls in targets:
        method = cls.__dict__.get("decomposition")
        if (
            not callable(method)
            or "algorithm"
            not in inspect.signature(getattr(method, _MARK, method)).parameters
        ):
            raise DispatchError(
                f"HyperSpy {_hyperspy_version()} no longer defines "
                f"{cls.__module__}.{cls.__name__}.decomposition(algorithm=...) "
                f"where hyperspy_cnmf expects it; algorithm='{ALGORITHM}' is "
                f"not available by name: {_FALLBACK}"
            )
    return targets


def _is_ours(algorithm) -> bool:
    return isinstance(algorithm, str) and algorithm == ALGORITHM


def _is_default(value, default) -> bool:
    if value is default:
        return True
    try:
        return bool(value == default)
    except (TypeError, ValueError):  # arrays and other objects
        return False


def _wrap(original):
    signature = inspect.signature(original)
    defaults = {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    var_keyword = next(
        (n for n, p in signature.parameters.items() if p.kind is p.VAR_KEYWORD), None
    )

    @functools.wraps(original)
    def decomposition_dispatch(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        algorithm = bound.arguments.get("algorithm", defaults.get("algorithm"))
        if not _is_ours(algorithm):
            try:
                return original(self, *args, **kwargs)
            finally:
                results = self.learning_results
                if getattr(results, "decomposition_algorithm", None) != ALGORITHM:
                    clear_results(results)
        options = dict(bound.arguments.pop(var_keyword, {}) if var_keyword else {})
        for name, value in bound.arguments.items():
            if name in ("self", "algorithm"):
                continue
            if name in _FORWARDED:
                options[name] = value
            elif not _is_default(value, defaults.get(name)):
                raise ValueError(
                    f"{name}={_brief(value)} is not used by algorithm='{ALGORITHM}'; "
                    f"leave it at its default ({defaults.get(name)!r})"
                )
        return decomposition(self, **options)

    decomposition_dispatch.__doc__ = (original.__doc__ or "") + _note()
    setattr(decomposition_dispatch, _MARK, original)
    return decomposition_dispatch


def is_installed() -> bool:
    """Whether ``algorithm="constrained_nmf"`` is enabled on HyperSpy signals."""
    return all(hasattr(cls.__dict__["decomposition"], _MARK) for cls in _targets())


def install() -> None:
    """Wrap HyperSpy's ``decomposition`` methods (idempotent).

    Raises
    ------
    DispatchError
        When HyperSpy has moved or changed the methods; the message names
        the HyperSpy version and the patch-free alternatives.
    """
    for cls in _targets():
        current = cls.__dict__["decomposition"]
        if not hasattr(current, _MARK):
            cls.decomposition = _wrap(current)


def uninstall() -> None:
    """Restore HyperSpy's own ``decomposition`` methods."""
    for cls in _targets():
        current = cls.__dict__["decomposition"]
        original = getattr(current, _MARK, None)
        if original is not None:
            cls.decomposition = original


def _brief(value) -> str:
    """``repr(value)``, or the type and shape of an array (never its values)."""
    shape = getattr(value, "shape", None)
    if shape is not None and getattr(value, "size", 2) > 1:
        return f"<{type(value).__name__} of shape {tuple(shape)}>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
