"""Reports: metrics, analysis, Pareto fronts, figures and tables built from result rows."""
