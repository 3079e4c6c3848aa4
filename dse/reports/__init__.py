"""What reads a study: its report (tables, Pareto plots, summary), comparisons of strategies, sweeps and the paper's studies."""
