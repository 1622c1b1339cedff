"""The cluster executor: dask coordinator and worker."""
