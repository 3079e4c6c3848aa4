"""The study as it is kept: its settings record, Optuna storage, trials read back as records, the run folder's manifest,
storage passwords and the one-driver lease."""
