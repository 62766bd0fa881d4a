"""Triton Inference Server for vxdeploy: generates a model repository from vxserve artifacts."""
