"""Prediction: options, the scene policy, layouts, the window loop (local or Dask), sink, resume, many scenes."""
