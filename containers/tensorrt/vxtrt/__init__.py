"""vxtrt: an ASGI server over an ONNX graph, run by TensorRT on a GPU or ONNX Runtime on CPU.

The user's torch model is exported to ONNX once (dynamic batch dimension), then either
compiled to a TensorRT engine (cached by ONNX hash + TensorRT version + GPU) or loaded
into ONNX Runtime. Both sit behind one `Backend` interface, and the rest of the server
(validation, batching, metrics, drain) is vxserve's PredictionService, so what CI tests on
ONNX Runtime is the same HTTP contract the GPU image serves.
"""
