"""Figures: decomposition results with Fourier transforms, convergence,
similarity matrices and dendrograms. Matplotlib only; no pyplot state is left
behind (functions return the figure). The figures take arrays (or result
objects that carry them) and never import the signal adapter
(:mod:`hyperspy_cnmf.signals`): for a signal, the adapter gathers the arrays
(``s.plot_component_clusters()``)."""
