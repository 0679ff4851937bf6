"""Constraints: projections applied to the factors or the loadings each half-step.

A constraint is any callable ``constraint(images, context) -> images``:

* ``images`` has shape ``(n_images, *context.shape)``: the diffraction
  patterns (factors) or the maps (loadings) refolded to their 2D shape, with
  excluded pixels set to zero, on the fit's backend (numpy or cupy);
* ``context`` is a :class:`~hyperspy_cnmf.core.geometry.ConstraintContext`
  (shape, calibrated axes, beam centre, mask, iteration, a per-fit cache,
  and ``context.backend`` with the array module ``xp`` and its ``ndimage``
  and ``sparse`` modules: a constraint written against them runs on both);
* it returns an array of the same shape, without modifying its input.

The built-in constraints below are written exactly the way a user would
write their own; :class:`Constraint` only adds a readable ``repr``. For
example, a constraint that zeroes everything beyond a calibrated radius::

    class OuterCutoff(Constraint):
        def __init__(self, k_max):
            self.k_max = k_max

        def __call__(self, images, context):
            (row_axis, col_axis) = context.axes
            xp = context.backend.xp
            ky = xp.asarray(row_axis.offset + row_axis.scale * np.arange(row_axis.size))
            kx = xp.asarray(col_axis.offset + col_axis.scale * np.arange(col_axis.size))
            keep = ky[:, None] ** 2 + kx[None, :] ** 2 <= self.k_max**2
            return images * keep
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings

import numpy as np

from .geometry import ConstraintContext, center_rc_from_xy, to_pixels
from .kernels import radial_applies, radial_deficits, radial_fill
from .polar import polar_operator
from .validation import user_stacklevel

__all__ = [
    "Constraint",
    "NonNegativity",
    "RadialContinuity",
    "GaussianSmoothing",
    "SpectralContinuity",
    "paper_factor_constraints",
    "paper_loading_constraints",
]


class Constraint:
    """Base class for constraints: gives a ``repr`` built from ``__init__``.

    Subclasses store their ``__init__`` parameters under the same names and
    implement ``__call__(images, context)``. See :class:`RadialContinuity`
    for a complete example.
    """

    def __call__(self, images, context: ConstraintContext):  # pragma: no cover
        raise NotImplementedError

    #: Whether the output is nonnegative for nonnegative input; the solver
    #: then skips its final nonnegativity projection.
    preserves_nonnegativity = False

    @property
    def follows_binning(self) -> bool:
        """Whether the constraint reads the pixel grid only from the context,
        so that it applies as well to binned patterns (``signal_binning``);
        False unless a constraint says so."""
        return False

    def get_params(self) -> dict:
        names = [
            p for p in inspect.signature(type(self).__init__).parameters if p != "self"
        ]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and _comparable(
            self.get_params()
        ) == _comparable(other.get_params())

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))


def _comparable(params: dict) -> dict:
    """Parameters with arrays as lists, so that ``==`` gives one bool (a
    centre may be given as a list, tuple or array)."""
    return {
        k: np.asarray(v).tolist() if isinstance(v, (np.ndarray, list, tuple)) else v
        for k, v in params.items()
    }


class NonNegativity(Constraint):
    """Projection onto the nonnegative orthant, ``[x]+ = max(x, 0)``.

    Always applied by the NMF solvers (before the other constraints, and
    after them unless they all preserve nonnegativity); listing it
    explicitly is harmless.
    """

    preserves_nonnegativity = True
    follows_binning = True

    def __call__(self, images, context):
        return context.xp.maximum(images, 0)


class RadialContinuity(Constraint):
    """Remove dark-spot artifacts from diffraction factors (paper Fig. 4).

    Each pattern is resampled on a polar grid about the beam centre. At each
    radius the mean over the valid angles is taken, samples brighter than
    ``outlier_factor`` times that mean (Bragg spots) are excluded and the mean
    is recomputed. Polar samples below this baseline are raised to it, and
    only the raised amounts are mapped back to the detector pixels (inverse
    polar interpolation) and added to the pattern, capped so that no pixel
    ends above the baseline at its own radius. Pixels whose polar
    neighbourhood lies above the baseline (Bragg spots) are untouched, the
    pattern is never lowered, and masked pixels are ignored.

    Mapping back the raised amounts of the (interpolated, hence smoother)
    polar samples rather than raising every pixel below the baseline keeps
    pixel noise from being pushed up: on the paper's simulation this halves
    the error the constraint adds (k = 4: +0.29 % over PCA against +0.52 %)
    with the same dark-spot removal. A deep hole is filled over a few
    applications (the ALS iterations), not in one.

    Parameters
    ----------
    outlier_factor : float, default 2.0
        Samples above ``outlier_factor * mean`` are excluded from the
        baseline (the paper uses 2).
    center : (float, float), list or array, optional
        Beam centre ``(x, y) = (col, row)`` in pixels, the order of pyxem's
        ``s.calibration.center`` (``center=s.calibration.center`` works);
        default the calibrated centre from the context.
    n_azimuthal : int, default 360
        Number of polar angles (None: enough to sample every pixel on the
        outermost radius; slower, same result within noise).
    r_min : float, default 0
        Radii (pixels) below this are left as they are (e.g. the direct beam
        when it is not masked).
    """

    preserves_nonnegativity = True  # it only ever raises values

    def __init__(self, outlier_factor=2.0, center=None, n_azimuthal=360, r_min=0.0):
        self.outlier_factor = outlier_factor
        self.center = center
        self.n_azimuthal = n_azimuthal
        self.r_min = r_min
        self._validate()

    def _validate(self):
        if not _is_real(self.outlier_factor) or not self.outlier_factor > 1:
            raise ValueError(
                f"outlier_factor={self.outlier_factor!r} must be a number > 1: "
                "samples above outlier_factor * mean are treated as Bragg spots "
                "(the paper uses 2)"
            )
        if self.n_azimuthal is not None and (
            not isinstance(self.n_azimuthal, numbers.Integral)
            or isinstance(self.n_azimuthal, bool)
            or self.n_azimuthal < 4
        ):
            raise ValueError(
                f"n_azimuthal={self.n_azimuthal!r} must be an integer >= 4 (the "
                "number of polar angles; default 360) or None for one per pixel "
                "on the outermost radius"
            )
        if not _is_real(self.r_min) or self.r_min < 0:
            raise ValueError(f"r_min={self.r_min!r} must be a number >= 0 (pixels)")
        center_rc_from_xy(self.center)  # raises, naming the (x, y) order

    @property
    def follows_binning(self) -> bool:
        """A centre and ``r_min`` given in pixels would not follow."""
        return self.center is None and self.r_min == 0

    def _operator(self, context):
        if len(context.shape) != 2:
            raise ValueError(
                "RadialContinuity needs 2D diffraction patterns, but the factors "
                f"have shape {context.shape}; give the signal geometry "
                "(Geometry(signal_shape=(rows, cols), ...)) or drop this constraint"
            )
        center = (
            center_rc_from_xy(self.center)
            if self.center is not None
            else context.center_rc
        )
        key = ("RadialContinuity", context.shape, center, self.n_azimuthal)
        return context.cached(
            key,
            lambda: polar_operator(
                context.shape, center, n_azimuthal=self.n_azimuthal, mask=context.mask
            ),
        )

    def _samples(self, images, context):
        """Valid polar samples laid out (n_valid, n), and the operator pieces."""
        op = self._operator(context)
        sampler, radial_sum, spread = op.radial_statistics(
            context.backend, images.dtype
        )
        # (pixels, n): a view when the solver hands in its own layout.
        flat = images.reshape(images.shape[0], -1).T
        return op, flat, sampler @ flat, radial_sum, spread

    def _baseline(self, samples, radial_sum, spread, op, xp):
        count = xp.asarray(radial_sum.sum(axis=1)).reshape(-1, 1)
        mean = (radial_sum @ samples) / xp.maximum(count, 1)
        keep = samples <= spread @ (self.outlier_factor * mean)
        kept = radial_sum @ keep.astype(samples.dtype)
        kept_sum = radial_sum @ (samples * keep)
        mean = xp.where(kept > 0, kept_sum / xp.maximum(kept, 1), mean)
        if self.r_min > 0:
            mean = mean * xp.asarray(op.radii >= self.r_min, dtype=mean.dtype)[:, None]
        return mean

    def __call__(self, images, context):
        if self.outlier_factor <= 1:
            raise ValueError(
                f"outlier_factor={self.outlier_factor} must be > 1: samples above "
                "outlier_factor * mean are treated as Bragg spots"
            )
        if context.backend.name == "numpy" and radial_applies(
            images.reshape(images.shape[0], -1)
        ):
            return self._fused(images, context)
        xp, dtype = context.xp, images.dtype
        op, flat, samples, radial_sum, spread = self._samples(images, context)
        baseline = self._baseline(samples, radial_sum, spread, op, xp)
        # In place: these arrays are (samples or pixels) x all restarts' images.
        raised = spread @ baseline.astype(dtype)
        raised -= samples
        xp.maximum(raised, 0, out=raised)
        delta = op.back_projection(context.backend, dtype) @ raised  # (n_pixels, n)
        # A pixel is raised by the interpolated polar deficit, but never above
        # the baseline at its own radius: no bleeding around a filled hole.
        deficit = op.profiles_to_pixels(baseline.astype(dtype), context.backend)
        deficit -= flat
        xp.maximum(deficit, 0, out=deficit)
        xp.minimum(delta, deficit, out=delta)
        delta += flat
        return delta.T.reshape(images.shape)

    def _fused(self, images, context):
        """The same projection by the numba kernels (numpy, where numba
        works): two reads of the patterns instead of a dozen sparse and
        elementwise passes."""
        op, dtype = self._operator(context), images.dtype
        sampler, radial_sum, _ = op.radial_statistics(context.backend, dtype)
        flat = images.reshape(images.shape[0], -1).T
        level = op.radii >= self.r_min  # all radii for r_min = 0
        raised, baseline = radial_deficits(
            flat, sampler, radial_sum.indptr, self.outlier_factor, level
        )
        out = radial_fill(
            flat,
            raised,
            op.back_projection(context.backend, dtype),
            baseline,
            op.radial_interpolation(context.backend, dtype),
        )
        return out.T.reshape(images.shape)


def _is_real(value) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def gaussian_kernel_1d(sigma: float, size: int | None = None) -> np.ndarray:
    """Normalised 1D Gaussian; ``size`` defaults to ``2 round(2 sigma) + 1``.

    Truncating at about two sigma gives the paper's 3x3 kernel for its probe
    (2 nm FWHM) and scan step (1.5 nm).
    """
    if size is None:
        size = 2 * max(1, round(2 * sigma)) + 1
    half = (size - 1) / 2
    x = np.arange(size) - half
    kernel = np.exp(-0.5 * (x / sigma) ** 2) if sigma > 0 else (x == 0).astype(float)
    return kernel / kernel.sum()


class GaussianSmoothing(Constraint):
    """Smooth maps with a Gaussian set by the spatial resolution (paper Fig. 5).

    The kernel is separable and normalised; edges are handled by normalised
    convolution (pixels outside the scan or excluded by the navigation mask
    do not pull the map towards zero).

    Parameters
    ----------
    sigma : float, optional
        Standard deviation in scan pixels. Default: the paper's 3x3 Gaussian,
        the binomial kernel ``[1, 2, 1] / 4`` (sigma = 1/sqrt(2)).
    size : int, optional
        Kernel width in pixels (odd). Default ``2 round(2 sigma) + 1``, i.e. 3
        for the default sigma.
    probe_fwhm : float, optional
        Probe full width at half maximum in ``probe_units``; with the scan
        step read from the navigation axes it sets
        ``sigma = fwhm / (2 sqrt(2 ln 2)) / step`` (overrides ``sigma``).
    probe_units : str, optional
        Units of ``probe_fwhm`` (nm, Å, pm, ...); default the axes' units.
    """

    preserves_nonnegativity = True  # a positive kernel

    def __init__(self, sigma=None, size=None, probe_fwhm=None, probe_units=None):
        self.sigma = sigma
        self.size = size
        self.probe_fwhm = probe_fwhm
        self.probe_units = probe_units
        self._validate()

    def _validate(self):
        if self.sigma is not None and (not _is_real(self.sigma) or self.sigma < 0):
            raise ValueError(
                f"sigma={self.sigma!r} must be a finite number >= 0 (scan pixels) "
                "or None for the paper's 3x3 kernel"
            )
        if self.size is not None and (
            not isinstance(self.size, numbers.Integral)
            or isinstance(self.size, bool)
            or self.size < 1
            or self.size % 2 == 0
        ):
            raise ValueError(
                f"size={self.size!r} must be a positive odd integer (the kernel "
                "width in pixels, centred on its middle pixel: 1, 3, 5, ...) or "
                "None for 2 round(2 sigma) + 1"
            )
        if self.probe_fwhm is not None and (
            not _is_real(self.probe_fwhm) or self.probe_fwhm <= 0
        ):
            raise ValueError(
                f"probe_fwhm={self.probe_fwhm!r} must be a finite number > 0 (in "
                "probe_units) or None; to switch smoothing off, drop "
                "GaussianSmoothing (loading_constraints=[])"
            )

    def sigmas(self, context) -> tuple[float, ...]:
        """Per-axis sigma in pixels for this context."""
        if self.probe_fwhm is not None:
            fwhm_to_sigma = 1 / (2 * math.sqrt(2 * math.log(2)))
            return tuple(
                to_pixels(self.probe_fwhm * fwhm_to_sigma, self.probe_units, axis)
                for axis in context.axes
            )
        sigma = 1 / math.sqrt(2) if self.sigma is None else float(self.sigma)
        if sigma < 0:
            raise ValueError(f"sigma={sigma} must be >= 0")
        return (sigma,) * len(context.shape)

    def kernels(self, context) -> list[np.ndarray]:
        """The 1D kernels, one per map axis (array order).

        An axis shorter than its kernel (a 2-row scan under a 3-pixel
        kernel) is not smoothed (kernel ``[1]``), with one warning per fit.
        """
        self._validate()
        kernels, short = [], []
        for axis, (n, sigma) in enumerate(
            zip(context.shape, self.sigmas(context), strict=True)
        ):
            size = self.size
            if size is None and self.sigma is None and self.probe_fwhm is None:
                size = 3  # the paper's [1, 2, 1] / 4
            elif size is None:
                # Checked before any array is built: a probe width read in
                # the wrong units (nm as m) would ask for gigabytes.
                if not abs(sigma) <= 100 * n:
                    raise ValueError(
                        f"{self!r}: sigma is {abs(sigma):.3g} scan pixels along "
                        f"axis {axis}, 100 times the scan ({n} px); check the "
                        "units: probe_fwhm is in probe_units, default the "
                        "navigation axes' units (give e.g. probe_units='nm'), "
                        "sigma in pixels"
                    )
                size = 2 * max(1, round(2 * abs(sigma))) + 1
            if size > n:
                short.append(f"axis {axis} ({n} px < kernel {size} px)")
                kernels.append(np.ones(1))
            elif self.size is None and self.sigma is None and self.probe_fwhm is None:
                kernels.append(np.array([0.25, 0.5, 0.25]))
            else:
                kernels.append(gaussian_kernel_1d(abs(sigma), size))
        if short:
            warnings.warn(
                f"{self!r}: the maps are not smoothed along {', '.join(short)}; "
                "the scan is too short along it for the kernel. Smoothing only "
                "the longer axes; pass loading_constraints=[] to silence this, "
                "or a smaller sigma/size/probe_fwhm",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return kernels

    def __call__(self, images, context):
        xp = context.backend.xp
        kernels = context.cached(
            ("GaussianSmoothing", repr(self)), lambda: self.kernels(context)
        )
        convolve = context.backend.ndimage.convolve1d
        weight = None
        if context.mask is not None:
            weight = xp.asarray(~context.mask, dtype=images.dtype)
            images = images * weight
        out = images
        norm = weight
        for axis, kernel in enumerate(kernels, start=1):
            if kernel.size == 1:  # an axis too short to smooth
                continue
            k = xp.asarray(kernel, dtype=images.dtype)
            out = convolve(out, k, axis=axis, mode="constant")
            if norm is None:
                norm = xp.ones(images.shape[1:], dtype=images.dtype)
            norm = convolve(norm, k, axis=axis - 1, mode="constant")
        if norm is None:  # no axis long enough to smooth, no mask
            return out.copy()
        out = out / xp.maximum(norm, xp.finfo(images.dtype).tiny)
        if weight is not None:
            out = out * weight
        return out


# Energy units that spectrum calibrations use, in eV.
_ENERGY_UNITS = {"meV": 1e-3, "eV": 1.0, "keV": 1e3, "MeV": 1e6}


def _to_channels(length, units, axis) -> float:
    """A calibrated energy ``length`` in ``units`` as channels of ``axis``."""
    if units is None or units == axis.units:
        return float(length) / abs(axis.scale)
    try:
        factor = _ENERGY_UNITS[units] / _ENERGY_UNITS[axis.units]
    except KeyError:
        known = ", ".join(_ENERGY_UNITS)
        raise ValueError(
            f"cannot convert {units!r} to the energy axis units {axis.units!r}; "
            f"give the width in the axis units (units=None) or use one of: {known}"
        ) from None
    return float(length) * factor / abs(axis.scale)


class SpectralContinuity(Constraint):
    r"""Remove reverse-peak dips from spectra (the 1D analogue of
    :class:`RadialContinuity`).

    Plain NMF of a spectrum image often gives a component a dip (a
    "reverse peak") where another component has a peak: the product
    ``L W^T`` fits the data either way. A component spectrum has no reason
    to dip below its own smooth continuum (background, edge shapes), so
    each spectrum is compared with a robust baseline and only the dips are
    raised:

    1. Baseline: least-squares lines through the channels of a window of
       ``width`` (calibrated units of the energy axis) ending at each
       channel, one on its left and one on its right, with the peaks and
       the dips left out as outliers, as the radial mean leaves out Bragg
       spots; the baseline is the lower of the two lines' values at the
       channel. The outliers are first the channels farther than
       ``outlier_factor`` noise deviations from the running median
       (which ignores peaks and dips narrower than half the window), then
       those as far from the baseline fitted without them. One-sided
       windows keep an edge onset (a step up) from raising the pre-edge,
       and at the end of its window a line lies below a convex (decaying)
       background, where a centred mean or line lies above it. A window
       left without channels (a peak wider than the window) takes a 4
       times wider one.
    2. The noise deviation ``sigma`` of the spectrum is ``1.4826`` times the
       median absolute deviation of the kept channels from the baseline;
       each channel below ``baseline - tolerance * sigma`` is raised to that
       value.

    Nothing is ever lowered, channels at or above the baseline (peaks) are
    untouched, and excluded channels (``context.mask``: a zero-loss peak,
    an excluded energy range) are left out of the baseline (the window runs
    over the kept channels) and returned as they are. It is
    scale-equivariant (a spectrum times ``c > 0`` gives its result times
    ``c``), so the solver's normalisation of the factors does not matter.
    Where peaks fill more than half of a window (a dense cluster of lines),
    the baseline follows them and the valleys between them are raised: use
    a wider window there.

    Parameters
    ----------
    width : float, optional
        Width of the baseline window in ``units``; it should span a few
        peak widths (EDS: about 1 keV; EELS: a few tens of eV). Default: a
        tenth of the energy range, at least 9 channels.
    units : str, optional
        Units of ``width`` (``"meV"``, ``"eV"``, ``"keV"``); default the
        energy axis' own units.
    outlier_factor : float, default 3.0
        Channels farther than this many noise deviations from the running
        median, then from the fitted baseline, are peaks or dips, left out
        of the fit.
    tolerance : float, default 0.0
        Dips shallower than this many noise deviations are left as they
        are. The default 0 raises every channel below the baseline, as
        :class:`RadialContinuity` raises every polar sample below the
        radial mean: a component spectrum averages many positions and
        its noise is small, while a tolerance lets the ALS iterations keep
        shallow reverse peaks (on the simulated EELS image of
        ``benchmarks/bench_spectra.py`` the worst spectrum cosine is
        0.996 with 0, 0.97 with 0.5 and 0.82-0.86 with 1).
    n_pass : int, default 2
        Fits of the lines, each without the outliers of the previous one.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_cnmf.core import Geometry, SpectralContinuity
    >>> e = np.linspace(0, 1, 200)
    >>> spectrum = 1 + e - 0.8 * np.exp(-0.5 * ((e - 0.5) / 0.01) ** 2)
    >>> context = Geometry(signal_shape=(200,), navigation_shape=(4,)).context("factors")
    >>> out = SpectralContinuity(width=40)(spectrum[None], context)
    >>> bool(out[0, 100] > spectrum[100] + 0.7)  # the dip is filled
    True
    """

    preserves_nonnegativity = True  # it only ever raises values

    def __init__(
        self, width=None, units=None, outlier_factor=3.0, tolerance=0.0, n_pass=2
    ):
        self.width = width
        self.units = units
        self.outlier_factor = outlier_factor
        self.tolerance = tolerance
        self.n_pass = n_pass
        self._validate()

    def _validate(self):
        if self.width is not None and (not _is_real(self.width) or self.width <= 0):
            raise ValueError(
                f"width={self.width!r} must be a finite number > 0 (the baseline "
                "window in the energy axis' units, or in `units`) or None for a "
                "tenth of the energy range"
            )
        if self.units is not None and self.units not in _ENERGY_UNITS:
            raise ValueError(
                f"units={self.units!r} must be None (the axis' units) or one of "
                f"{', '.join(_ENERGY_UNITS)}"
            )
        if not _is_real(self.outlier_factor) or not self.outlier_factor > 0:
            raise ValueError(
                f"outlier_factor={self.outlier_factor!r} must be a number > 0 "
                "(noise deviations beyond which a channel is a peak or a dip)"
            )
        if not _is_real(self.tolerance) or self.tolerance < 0:
            raise ValueError(
                f"tolerance={self.tolerance!r} must be a number >= 0 (noise "
                "deviations a dip may have before it is raised)"
            )
        if (
            not isinstance(self.n_pass, numbers.Integral)
            or isinstance(self.n_pass, bool)
            or self.n_pass < 1
        ):
            raise ValueError(f"n_pass={self.n_pass!r} must be an integer >= 1")

    def half_width(self, context) -> int:
        """Half the baseline window, in channels (at least 4)."""
        if len(context.shape) != 1:
            raise ValueError(
                "SpectralContinuity needs 1D spectra, but the factors have shape "
                f"{context.shape}; use RadialContinuity for diffraction patterns "
                "or drop this constraint"
            )
        (axis,) = context.axes
        if self.width is None:
            channels = context.shape[0] / 10
        else:
            channels = _to_channels(self.width, self.units, axis)
        return max(4, int(round(channels / 2)))

    def baseline(self, images, context):
        """The baseline and noise deviation of each spectrum.

        Returns ``(baseline, sigma)``: an array of ``images``' shape (NaN at
        excluded channels) and one of shape ``(n_images, 1)``.
        """
        self._validate()
        xp = context.xp
        h = self.half_width(context)
        y = images.reshape(images.shape[0], -1)
        keep = None if context.mask is None else xp.asarray(~context.mask)
        z = y if keep is None else y[:, keep]
        z = z.astype(xp.float64)
        median = _running_median(z, h, context.backend)
        sigma = 1.4826 * xp.median(xp.abs(z - median), axis=1, keepdims=True)
        sigma = xp.maximum(sigma, 1e-9 * xp.max(xp.abs(z), axis=1, keepdims=True))
        inliers = xp.abs(z - median) <= self.outlier_factor * sigma
        n = z.shape[1]
        t = context.cached(  # centred, O(1): no cancellation in the moments
            ("SpectralContinuity", n),
            lambda: xp.asarray((np.arange(n) - (n - 1) / 2) / n),
        )
        floor = 1e-6 * xp.max(xp.abs(z), axis=1, keepdims=True)
        for _ in range(self.n_pass):  # refits without their own outliers
            w = inliers.astype(xp.float64)
            base = upper = xp.full(z.shape, xp.nan)
            # A window without inliers (a peak or dip wider than the window)
            # takes the fit of a 4 times wider window, then of the range.
            for half in (h, 4 * h, n):
                missing = xp.isnan(base)
                if not bool(missing.any()):
                    break
                left, right = _one_sided_lines(z, w, half, t, xp)
                base = xp.where(missing, xp.fmin(left, right), base)
                upper = xp.where(missing, xp.fmax(left, right), upper)
            dev = xp.abs(z - base)
            step = max(1, n // 512)  # the median of at most ~1000 channels
            kept = xp.where(inliers, dev, xp.inf)[:, ::step]
            sigma = 1.4826 * _row_median(kept, inliers[:, ::step].sum(axis=1), xp)
            sigma = xp.maximum(sigma, floor)
            # Peaks: above the lower line; dips: below the upper one (a dip's
            # flank pulls the line on its own side down). A step's far side
            # is left out of the line on its near side, the baseline there.
            bound = self.outlier_factor * sigma
            inliers = (z <= base + bound) & (z >= upper - bound)
        if keep is not None:
            full = xp.full(y.shape, xp.nan, dtype=base.dtype)
            full[:, keep] = base
            base = full
        return base.reshape(images.shape), sigma

    def __call__(self, images, context):
        xp = context.xp
        base, sigma = self.baseline(images, context)
        shape = (-1,) + (1,) * (images.ndim - 1)
        floor = base - self.tolerance * sigma.reshape(shape)
        floor = xp.where(xp.isnan(floor), -xp.inf, floor)
        return xp.maximum(images, floor.astype(images.dtype))


def _running_median(z, h, backend):
    """Median of each row of ``z`` over ``[j - h, j + h]``; beyond the ends
    the rows are continued by point reflection (``2 z[0] - z[k]``), so that
    a monotonic stretch at an end is its own median, as everywhere."""
    xp, n = backend.xp, z.shape[1]
    h = min(h, n - 1)
    if h < 1:
        return z.copy()
    head = 2 * z[:, :1] - z[:, h:0:-1]
    tail = 2 * z[:, -1:] - z[:, -2 : -h - 2 : -1]
    padded = xp.concatenate([head, z, tail], axis=1)
    size = 2 * h + 1
    if backend.name == "numpy":  # the 1D filter has a fast running median
        out = np.empty_like(padded)
        for i, row in enumerate(padded):
            out[i] = backend.ndimage.median_filter(row, size=size, mode="nearest")
    else:
        out = backend.ndimage.median_filter(padded, size=(1, size), mode="nearest")
    return out[:, h : h + n]


def _row_median(values, counts, xp):
    """Median of the first ``counts[i]`` sorted values of each row (the
    others are ``+inf``), shape ``(n_rows, 1)``."""
    ordered = xp.sort(values, axis=1)
    lo = xp.clip((counts - 1) // 2, 0, values.shape[1] - 1).reshape(-1, 1)
    hi = xp.clip(counts // 2, 0, values.shape[1] - 1).reshape(-1, 1)
    med = 0.5 * (
        xp.take_along_axis(ordered, lo, axis=1)
        + xp.take_along_axis(ordered, hi, axis=1)
    )
    return xp.where(xp.isfinite(med), med, 0.0)


def _one_sided_lines(z, w, h, t, xp):
    """Weighted least-squares lines through each row of ``z`` over the
    windows ``[j - h, j]`` and ``[j, j + h]`` (clipped at the ends), each
    evaluated at channel ``j``; ``t`` are the channel coordinates. The
    mean where a window has about one weighted channel, NaN where it has
    none.

    At the end of its window a line lies below a convex background, and a
    window on one side of an edge onset does not see the other side. The
    window sums are exact sums over bins of ``b ~ h / 8`` channels and the
    lines are evaluated at the bin centres and interpolated linearly in
    between: the baseline is smooth on the scale of ``h``.
    """
    m, n = z.shape
    b = max(1, h // 8)
    nb = -(-n // b)
    pad = nb * b - n
    tt = xp.broadcast_to(t.reshape(1, -1), z.shape)
    wt = w * tt
    terms = xp.stack([w, wt, wt * tt, w * z, wt * z])  # (5, m, n)
    if pad:
        terms = xp.concatenate([terms, xp.zeros((5, m, pad))], axis=2)
    binned = terms.reshape(5, m, nb, b).sum(axis=3)
    c = xp.cumsum(binned, axis=2)
    c = xp.concatenate([xp.zeros((5, m, 1)), c], axis=2)  # c[..., i]: below i
    # bin centres, in channel coordinates (the last bin's real channels only)
    centres = (np.arange(nb) * b + (np.minimum(np.arange(nb) * b + b, n) - 1)) / 2
    tc = xp.asarray((centres - (n - 1) / 2) / n)
    hb = max(1, int(round(h / b)))
    k = np.arange(nb)
    lines = []
    for lo, hi in ((k - hb, k + 1), (k, k + hb + 1)):
        lo = xp.asarray(np.clip(lo, 0, nb))
        hi = xp.asarray(np.clip(hi, 0, nb))
        m0, m1, m2, n0, n1 = c[:, :, hi] - c[:, :, lo]
        s1 = m1 - tc * m0  # moments about each bin centre
        s2 = m2 - 2 * tc * m1 + tc * tc * m0
        c1 = n1 - tc * n0
        det = m0 * s2 - s1 * s1
        with np.errstate(invalid="ignore", divide="ignore"):
            linear = (s2 * n0 - s1 * c1) / det
            mean = n0 / m0
        out = xp.where(m0 > 0.5, mean, xp.nan)
        lines.append(xp.where(det > 1e-6 * m0 * s2, linear, out))
    if b == 1:
        return lines
    # linear interpolation from the bin centres to the channels
    pos = np.clip(
        np.interp(np.arange(n), centres, np.arange(nb, dtype=float)), 0, nb - 1
    )
    i0 = np.minimum(np.floor(pos).astype(int), max(nb - 2, 0))
    frac = xp.asarray(pos - i0)
    i0 = xp.asarray(i0)
    i1 = xp.minimum(i0 + 1, nb - 1)
    return [line[:, i0] * (1 - frac) + line[:, i1] * frac for line in lines]


def paper_factor_constraints() -> list:
    """The paper's constraint on diffractions: ``[RadialContinuity()]``."""
    return [RadialContinuity()]


def paper_loading_constraints() -> list:
    """The paper's constraint on maps: ``[GaussianSmoothing()]`` (3x3)."""
    return [GaussianSmoothing()]
