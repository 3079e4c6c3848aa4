"""How a study chooses its next candidates: the staged rule, sweeps, random draws, the hardware-aware search, Optuna's samplers."""
