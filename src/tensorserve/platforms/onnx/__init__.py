"""The ONNX Runtime platform: ``model.onnx`` version directories, and ONNX twins of
TensorFlow signatures. Importing the package imports no ONNX Runtime."""
