"""What the package refuses, and the message that says what to pass
instead, by job: :mod:`.arguments` (constructor arguments, each by its own
name), :mod:`.inputs` (experiences, batches, labels, models and the order
of plugins, checked in the training loop) and :mod:`.early_stopping`
(Avalanche's ``EarlyStoppingPlugin`` against the strategy's periodic
evaluation). docs/known_issues.md lists the Avalanche behaviours these
guard against. Nothing here imports the rest of the package."""
