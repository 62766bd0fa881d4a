"""Inference backends behind one interface: ONNX Runtime (CPU/CUDA) and TensorRT 10."""
