"""Export to ONNX, run with ONNX Runtime."""
from samprompt.export.graphs import OnnxGraph, encoder_graph, prompt_decoder_graph
from samprompt.export.onnx import PARTS, export_onnx, onnx_session

__all__ = ["PARTS", "OnnxGraph", "encoder_graph", "export_onnx", "onnx_session", "prompt_decoder_graph"]
