"""The statements the project proves, each written as an AIR for the generic :mod:`zk_pipeline.stark` library."""
