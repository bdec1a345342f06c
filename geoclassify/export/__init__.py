"""Deployment: export model files to ONNX and quantize them to INT8."""
