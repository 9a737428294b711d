"""Small synthetic ONNX detectors built with the onnx helper API, for the detector tests
(perception) and the node's detector parameters (ros). Import after
``pytest.importorskip("onnx")``."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def constant_detector_model(path, outputs: dict, in_hw=(320, 320), gain_by_brightness=True):
    """An ONNX model with one NCHW float input whose outputs are the given constant
    arrays times a gain of the input: 1 when its mean is above 0.5 (a white image), 0
    below (a black one, even with grey letterbox padding), so the test sees that the
    image really reaches the model."""
    h, w = in_hw
    nodes = [helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
             helper.make_node("Sub", ["mean", "half"], ["above"]),
             helper.make_node("Relu", ["above"], ["pos"]),
             helper.make_node("Ceil", ["pos"], ["gain"])]
    inits, outs = [numpy_helper.from_array(np.array(0.5, np.float32), "half")], []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), f"{name}_c"))
        if gain_by_brightness:
            nodes.append(helper.make_node("Mul", [f"{name}_c", "gain"], [name]))
        else:
            nodes.append(helper.make_node("Identity", [f"{name}_c"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                  list(np.shape(value))))
    graph = helper.make_graph(
        nodes, "synthetic_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])],
        outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)
