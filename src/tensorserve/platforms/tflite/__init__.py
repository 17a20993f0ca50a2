"""The TensorFlow Lite platform: ``model.tflite`` served with ``--prefer_tflite_model``,
as TensorFlow Serving does. Importing the package imports no TensorFlow."""
