"""Figures: decomposition results with Fourier transforms, convergence,
similarity matrices and dendrograms. Matplotlib only; no pyplot state is left
behind (functions return the figure)."""
