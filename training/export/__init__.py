"""Export: a trained run directory -> a verified ONNX serving artifact.

``artifact`` orders the steps (options, result, ``export_artifact``); ``onnx_graph`` exports and
fuses the graph; ``parity`` and ``int8`` are the gates, ``quantize`` the int8 plans; ``hybrid`` the
stacker and n-gram model a hybrid artifact ships; ``probes`` the inputs the gates score;
``directory`` writes the artifact directory; ``errors`` the errors the export raises.
"""
