"""Scale-out: targets scanned by the workers of a Dask distributed cluster
(`annexscan scan --dask-scheduler tcp://HOST:PORT`). `distributed` is an optional dependency
(`pip install annexscan[fleet]`): only `dask_runner` imports it."""
