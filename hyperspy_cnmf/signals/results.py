"""The ``cnmf_`` keys of ``learning_results``: the one module that names them.

A constrained decomposition stores HyperSpy's own fields (``factors``,
``loadings``, ``decomposition_algorithm``, ...) plus its fit record under
keys starting with :data:`PREFIX`; the component clustering stores its own
under :data:`CLUSTER_PREFIX`. Everything else reads them through the
functions here (:func:`fit_history`, :func:`fit_summary`), so a key is
spelled in one place.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..core.map_floors import MapFloors

__all__ = [
    "ALGORITHM",
    "PREFIX",
    "CLUSTER_PREFIX",
    "CLUSTER_KEYS",
    "clear_cluster_results",
    "clear_results",
    "cluster_is_current",
    "component_energy",
    "drop_stale",
    "factors_fingerprint",
    "is_current",
    "decomposition_results",
    "store",
    "store_clustering",
    "stored_center_xy",
    "stored_clustering",
    "fit_history",
    "fit_details",
    "fit_params",
    "fit_summary",
]

ALGORITHM = "constrained_nmf"
PREFIX = "cnmf_"
CLUSTER_PREFIX = PREFIX + "cluster_"

FINGERPRINT = PREFIX + "fingerprint"

#: The component clustering's keys, after :data:`CLUSTER_PREFIX`.
CLUSTER_KEYS = (
    "labels",
    "linkage",
    "similarity",
    "cosine_similarity",
    "rotation",
    "params",
)

# learning_results key -> NMFResult.history / ConstrainedNMF.history_ key
_HISTORY_KEYS = {
    "mse_history": "mse",
    "factor_change_history": "factor_change_l1",
    "loading_change_history": "loading_change_l1",
    "exact_history": "exact",
}


def clear_results(learning_results, prefix: str = PREFIX) -> list[str]:
    """Delete the keys starting with ``prefix``; return their names."""
    keys = [k for k in vars(learning_results) if k.startswith(prefix)]
    for key in keys:
        delattr(learning_results, key)
    return keys


def factors_fingerprint(factors) -> str:
    """SHA-256 of the factors (as float64, with their shape): identifies the
    decomposition that this package's results describe."""
    values = np.ascontiguousarray(np.asarray(factors, dtype=np.float64))
    digest = hashlib.sha256(repr(values.shape).encode())
    digest.update(values.tobytes())
    return digest.hexdigest()


def _stored_string(value):
    if isinstance(value, bytes):
        value = value.decode()
    return None if value is None else str(value)


def is_current(learning_results) -> bool:
    """Whether the ``cnmf_*`` fit record describes the stored factors: the
    last decomposition is a constrained one and its factors are unchanged
    (results from versions without a fingerprint: the algorithm only)."""
    if getattr(learning_results, "decomposition_algorithm", None) != ALGORITHM:
        return False
    factors = getattr(learning_results, "factors", None)
    if factors is None:
        return False
    stored = _stored_string(getattr(learning_results, FINGERPRINT, None))
    return stored is None or stored == factors_fingerprint(factors)


def _fit_keys(learning_results):
    return [
        k
        for k in vars(learning_results)
        if k.startswith(PREFIX) and not k.startswith(CLUSTER_PREFIX)
    ]


def cluster_is_current(learning_results) -> bool:
    params = getattr(learning_results, CLUSTER_PREFIX + "params", None)
    factors = getattr(learning_results, "factors", None)
    if params is None or factors is None:
        return False
    try:
        then = json.loads(_stored_string(params)).get("factors_fingerprint")
    except (ValueError, AttributeError):
        return False
    if isinstance(then, str):
        return then == factors_fingerprint(factors)
    # Clusterings stored before the SHA-256 fingerprint: [k, weighted sum].
    factors = np.asarray(factors, dtype=np.float64)
    finite = np.where(np.isfinite(factors), factors, 0.0)
    weights = np.linspace(1.0, 2.0, finite.shape[0])
    return (
        isinstance(then, list)
        and len(then) == 2
        and then[0] == factors.shape[1]
        and bool(np.isclose(then[1], weights @ finite.sum(axis=1), rtol=1e-6))
    )


def drop_stale(learning_results) -> list[str]:
    """Delete this package's keys that no longer describe the stored factors
    (another decomposition replaced them, e.g. one run without this package
    imported, or in another session before the file was saved); return
    their names. The fit record and the clustering are checked separately:
    a clustering of another algorithm's components is current as long as
    those factors are."""
    removed = []
    fit_keys = _fit_keys(learning_results)
    if fit_keys and not is_current(learning_results):
        for key in fit_keys:
            delattr(learning_results, key)
        removed += fit_keys
    cluster_keys = [k for k in vars(learning_results) if k.startswith(CLUSTER_PREFIX)]
    if cluster_keys and not cluster_is_current(learning_results):
        removed += clear_results(learning_results, CLUSTER_PREFIX)
    return removed


def clear_cluster_results(learning_results) -> list[str]:
    """Delete the ``cnmf_cluster_*`` keys; return their names."""
    return clear_results(learning_results, CLUSTER_PREFIX)


def store_clustering(learning_results, fields: dict) -> None:
    """Store a component clustering: ``fields`` holds the arrays named in
    :data:`CLUSTER_KEYS` and ``"params"`` (a dict, stored as JSON); an
    earlier clustering's keys are replaced."""
    results = {
        CLUSTER_PREFIX + key: (
            json.dumps(fields[key]) if key == "params" else fields[key]
        )
        for key in CLUSTER_KEYS
    }
    store(learning_results, results, CLUSTER_PREFIX)


def _cluster_params(value) -> dict:
    params = json.loads(_stored_string(value))
    if "center_xy" not in params and "center" in params:  # earlier versions
        old = params.pop("center")  # (row, col), or None for spectra
        params["center_xy"] = None if old is None else [old[1], old[0]]
    return params


def _check_clustering_current(learning_results) -> None:
    if getattr(learning_results, "factors", None) is None:
        raise RuntimeError(
            "the signal has a stored clustering but no decomposition: run "
            "s.decomposition(...) and s.cluster_components(...) again"
        )
    if not cluster_is_current(learning_results):
        raise RuntimeError(
            "the stored clustering belongs to an earlier decomposition: run "
            "s.cluster_components(...) again"
        )


def stored_clustering(learning_results, *, check_current=True) -> dict:
    """The stored component clustering: the :data:`CLUSTER_KEYS` arrays
    (float64; ``labels`` int64) and ``"params"`` as a dict (a record saved
    by an earlier version, with ``"center"`` in ``(row, col)``, is read
    into ``"center_xy"``).

    Raises
    ------
    RuntimeError
        No clustering stored or, with ``check_current``, one that belongs to
        replaced factors (it is removed).
    """
    lr = learning_results
    prefix = CLUSTER_PREFIX
    if (
        check_current
        and drop_stale(lr)
        and getattr(lr, prefix + "params", None) is None
    ):
        raise RuntimeError(
            "the stored component clustering belonged to an earlier "
            "decomposition (the factors have been replaced since) and was "
            "removed: run s.cluster_components(...) again"
        )
    if any(getattr(lr, prefix + key, None) is None for key in CLUSTER_KEYS):
        raise RuntimeError(
            "no component clustering on this signal: run "
            "s.cluster_components(...) (hyperspy_cnmf.cluster_components(s)) "
            "after s.decomposition(...) first"
        )
    params = _cluster_params(getattr(lr, prefix + "params"))
    if check_current:
        _check_clustering_current(lr)
    fields = {
        key: np.asarray(getattr(lr, prefix + key), dtype=np.float64)
        for key in CLUSTER_KEYS
        if key not in ("labels", "params")
    }
    labels = np.asarray(getattr(lr, prefix + "labels")).astype(np.int64)
    return {"labels": labels, **fields, "params": params}


def store(learning_results, results: dict, prefix: str = PREFIX) -> None:
    """Replace the keys under ``prefix`` by ``results`` (no error can occur).

    One dictionary update writes every key (a KeyboardInterrupt cannot
    land half-way through it); then the keys of an earlier fit that the new
    one does not have are removed."""
    state = vars(learning_results)
    state.update(results)
    for key in [k for k in state if k.startswith(prefix) and k not in results]:
        del state[key]


def _json_value(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.random.RandomState):  # no memory address
        return "RandomState(MT19937)"
    if isinstance(value, np.random.Generator):
        return f"Generator({type(value.bit_generator).__name__})"
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return repr(value)


def component_energy(factors, loadings):
    """Energy of each rank-1 term ``l_i f_i^T``: ``|l_i|^2 |f_i|^2``.

    What a constrained decomposition stores as HyperSpy's
    ``explained_variance`` (divided by the number of fitted positions, as
    HyperSpy's uncentred SVD stores ``S_i^2 / n``) and, as a share of the
    summed energies, ``explained_variance_ratio``, so that HyperSpy's scree
    plots and ``estimate_elbow_position`` work. NMF components overlap, so
    the cumulative curve is the share of the summed component energies, not
    the fraction of the data explained. NaN entries (excluded pixels or
    positions) are left out.
    """
    return np.nansum(loadings**2, axis=0) * np.nansum(factors**2, axis=0)


def decomposition_results(
    estimator, factors, loadings, *, params, geometry, shape, elapsed
):
    """Everything a constrained decomposition stores in ``learning_results``.

    Parameters
    ----------
    estimator : ConstrainedNMF
        The fitted estimator (its learned attributes are recorded).
    factors, loadings : ndarray
        Full-size (NaN where excluded) factors (n_pixels, k) and loadings
        (n_positions, k).
    params : dict
        The settings to record (JSON-serialisable after :func:`_json_value`).
    geometry : Geometry
    shape : dict
        ``original_shape`` and ``unfolded`` as HyperSpy records them.
    elapsed : float
        Seconds the decomposition took.
    """
    history = estimator.history_
    energy = component_energy(factors, loadings)
    n_kept = geometry.n_navigation
    total = float(energy.sum())
    results = {
        "factors": factors,
        "loadings": loadings,
        "explained_variance": energy / n_kept,
        "explained_variance_ratio": energy / total if total > 0 else None,
        "number_significant_components": None,
        "decomposition_algorithm": ALGORITHM,
        "poissonian_noise_normalized": bool(params["normalize_poissonian_noise"]),
        "output_dimension": int(factors.shape[1]),
        "centre": None,
        "mean": None,
        "unmixing_matrix": None,
        "bss_algorithm": None,
        "bss_factors": None,
        "bss_loadings": None,
        "navigation_mask": geometry.navigation_mask,
        "signal_mask": geometry.signal_mask,
        **shape,
        PREFIX + "mse": float(estimator.mse_),
        PREFIX + "restart_mse": np.asarray(estimator.restart_mse_, dtype=np.float64),
        PREFIX + "best_restart": int(estimator.best_restart_),
        PREFIX + "n_init": int(estimator.n_init),
        PREFIX + "n_iter": int(estimator.n_iter_),
        PREFIX + "converged": bool(estimator.converged_),
        PREFIX + "dead_components": np.asarray(
            estimator.dead_components_, dtype=np.int64
        ),
        PREFIX + "compression_rank": int(estimator.compression_rank_ or 0),
        **_phase_keys(estimator.phase_separation_, estimator.components_.shape[0]),
        PREFIX + "center_xy": np.asarray(
            params["center_xy"] if params.get("center_xy") is not None else (),
            dtype=np.float64,
        ),
        PREFIX + "factor_constraints": "; ".join(params["factor_constraints"]),
        PREFIX + "loading_constraints": "; ".join(params["loading_constraints"]),
        PREFIX + "elapsed": float(elapsed),
        PREFIX + "params": json.dumps({k: _json_value(v) for k, v in params.items()}),
        FINGERPRINT: factors_fingerprint(factors),
    }
    for key, name in _HISTORY_KEYS.items():
        dtype = bool if name == "exact" else np.float64
        results[PREFIX + key] = np.asarray(history[name], dtype=dtype)
    if estimator.poisson_deviance_ is not None:  # loss="poisson"
        results[PREFIX + "poisson_deviance"] = float(estimator.poisson_deviance_)
        results[PREFIX + "poisson_deviance_history"] = np.asarray(
            history["poisson_deviance"], dtype=np.float64
        )
    return results


def _phase_keys(phases, k) -> dict:
    """The pure-phase step's record: which components it took as amorphous
    and crystalline (indices into the stored, sorted components), or on
    spectra the floors taken out (``map_floors[i, j]``: the multiple of map
    ``j`` taken out of map ``i``)."""
    if phases is None:
        return {}
    if isinstance(phases, MapFloors):
        return {PREFIX + "map_floors": np.asarray(phases.coefficients, np.float64)}
    return {
        PREFIX + "amorphous_components": np.asarray(phases.amorphous, np.int64),
        PREFIX + "crystalline_components": np.asarray(phases.crystalline, np.int64),
    }


def _require(learning_results, key):
    if drop_stale(learning_results):
        raise ValueError(
            "the constrained NMF record in these learning results belonged to "
            "an earlier decomposition (the factors have been replaced since) "
            "and was removed; run s.decomposition(algorithm='constrained_nmf', "
            "output_dimension=k) again"
        )
    value = getattr(learning_results, PREFIX + key, None)
    if value is None:
        raise ValueError(
            "these learning results hold no constrained NMF record; run "
            "s.decomposition(algorithm='constrained_nmf', output_dimension=k) "
            "first"
        )
    return value


def fit_history(learning_results) -> dict:
    """The fit's history as :func:`~hyperspy_cnmf.plotting.convergence.plot_convergence` takes it.

    Keys ``"mse"``, ``"factor_change_l1"``, ``"loading_change_l1"`` and
    ``"exact"`` (which iterations ran on the data rather than its sketch).
    """
    return {
        name: np.asarray(_require(learning_results, key))
        for key, name in _HISTORY_KEYS.items()
    }


def fit_params(learning_results) -> dict:
    """The settings the fit ran with (decoded ``cnmf_params``); an empty
    dict when the record is unreadable (a damaged file).

    The beam centre is under ``"center_xy"``, ``(x, y)`` px (pyxem's order);
    a record saved by an earlier version, with ``"center"`` in array order
    ``(row, col)``, is read into ``"center_xy"`` too.
    """
    try:
        params = json.loads(_stored_string(_require(learning_results, "params")))
    except (ValueError, TypeError):
        return {}
    if not isinstance(params, dict):
        return {}
    if "center_xy" not in params and "center" in params:
        old = params.pop("center")
        if isinstance(old, list) and len(old) == 2:
            params["center_xy"] = [old[1], old[0]]
    return params


def stored_center_xy(learning_results) -> tuple[float, float] | None:
    """The beam centre ``(x, y)`` px a constrained decomposition used, or None.

    Reads ``cnmf_center_xy`` (pyxem's order), or ``cnmf_center`` (array order
    ``(row, col)``) in results saved by earlier versions.
    """
    for key, order in (("center_xy", slice(None)), ("center", slice(None, None, -1))):
        value = getattr(learning_results, PREFIX + key, None)
        if value is not None and np.size(value) == 2:
            x, y = np.ravel(np.asarray(value, dtype=np.float64))[order]
            return (float(x) + 0.0, float(y) + 0.0)
    return None


def _iterations_text(learning_results, params) -> str:
    exact = getattr(learning_results, PREFIX + "exact_history", None)
    if exact is None:
        return "iterations: ?"
    exact = np.asarray(exact, dtype=bool)
    n_restart_phase = int((~exact).sum())
    n_exact = int(exact.sum())
    max_iter = params.get("max_iter", "?")
    rank = getattr(learning_results, PREFIX + "compression_rank", 0)
    binning = params.get("scan_binning", 1)  # not recorded before 0.3
    where = [f"the scan binned {binning}x{binning}"] if binning != 1 else []
    if rank:
        where.append(f"{'its' if where else 'the'} rank-{rank} sketch")
        signal_binning = params.get("signal_binning", 1)  # not recorded before 0.4
        if signal_binning != 1:
            where[-1] += f" of patterns binned {signal_binning}x{signal_binning}"
    if n_restart_phase:
        text = (
            f"iterations: {n_restart_phase} on {', '.join(where) or 'the data'} "
            f"(max_iter={max_iter}) + {n_exact} exact"
        )
    else:
        text = f"iterations: {n_exact} exact (max_iter={max_iter})"
    if params.get("loss") == "poisson":
        text += " (Poisson)"
    tol = params.get("tol", 0)
    if isinstance(tol, (int, float)) and tol > 0:  # only meaningful when asked
        converged = bool(_require(learning_results, "converged"))
        text += (
            f", {'converged' if converged else 'not converged'} at tol={params['tol']}"
        )
    return text


def fit_details(learning_results) -> list[str]:
    """What HyperSpy's own summary does not say: constraints, centre, solver,
    iterations, restart kept and error (one line each)."""
    params = fit_params(learning_results)
    lines = [] if params else ["(cnmf_params unreadable: the settings are unknown)"]
    center = params.get("center_xy")

    def listed(name):
        value = params.get(name)
        if isinstance(value, list):
            return f"{name}=[{', '.join(map(str, value))}]"
        return f"{name}=?"

    lines += [listed("factor_constraints"), listed("loading_constraints")]
    try:  # pyxem's order, as center= takes it
        lines.append(f"beam centre (x, y)=({center[0]:.4g}, {center[1]:.4g}) px")
    except (TypeError, IndexError, ValueError, KeyError):
        pass  # none recorded, or not two numbers
    best = getattr(learning_results, PREFIX + "best_restart", "?")
    mse = getattr(learning_results, PREFIX + "mse", None)
    shown = {"loss": "frobenius", **params}  # loss not recorded before 0.3
    lines += [
        ", ".join(
            f"{name}={shown.get(name, '?')}"
            for name in ("solver", "loss", "n_init", "tol", "compression")
        ),
        _iterations_text(learning_results, params),
        f"best restart={best}, mse={'?' if mse is None else f'{float(mse):.6g}'}",
    ]
    deviance = getattr(learning_results, PREFIX + "poisson_deviance", None)
    if deviance is not None:
        lines.append(f"mean Poisson deviance={float(deviance):.6g}")
    return lines


def fit_summary(learning_results) -> str:
    """A readable account of a constrained decomposition, as printed after it."""
    params = fit_params(learning_results)
    lines = [
        "Decomposition info:",
        f"  normalize_poissonian_noise={params.get('normalize_poissonian_noise', '?')}",
        f"  algorithm={ALGORITHM}",
        f"  output_dimension={params.get('output_dimension', '?')}",
        "  centre=None",
    ]
    lines += ["  " + line for line in fit_details(learning_results)]
    return "\n".join(lines)
