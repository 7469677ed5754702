"""Semantic forecasting (DeformF2F, Šarić et al., GCPR 2019): its protocol, feature caches, the time-keyed history and the runtime
forecaster. Models live in :mod:`swiftcast.models`; training and evaluation in :mod:`swiftcast.train.forecast`
and :mod:`swiftcast.eval.forecast`."""
