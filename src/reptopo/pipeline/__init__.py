"""Running the benchmark: a job's data and model, its training, its activations and measures,
its record; checkpoints measured again; suites run on Dask; comparisons between stored models.

- :mod:`.tasks`: task data from offline packages and the hub, probe sets;
- :mod:`.models`: model builders (torch, timm, transformers), weight loading, a model's cost;
- :mod:`.train`: the training recipe;
- :mod:`.probe`: per-layer activations of the probe set, pooled per layout;
- :mod:`.jobs`: one job, step by step, and the record it writes;
- :mod:`.checkpoints`: a trained checkpoint rebuilt and measured again;
- :mod:`.runner`: suites expanded into jobs, run on Dask (local, an address, or Slurm);
- :mod:`.compare`: CKA and RTD maps between pairs of stored models.
"""
