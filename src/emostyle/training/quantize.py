"""int8 copies of exported classifiers: ONNX Runtime's static quantisation, calibrated on faces.

Why: the default must read a face in at most 3 ms at batch 1 with its flip TTA (issue 14), and
in float32 only the vgg32 network fits that (2.5 ms); the wider vgg48, which reads faces more
accurately, takes 6.5 ms. Its convolutions and its linear head in int8 (weights per output
channel, activations per tensor, ranges from Training faces) run it in about 2.5 ms on a CPU
with AVX-512 VNNI, and on PublicTest the int8 copy of run 6 read as many faces right as the
float32 one (71.44% against 71.33%, flip TTA). The card of an int8 export records both figures,
so the change is shown, never assumed.

Weights are quantised to 7 bits (``reduce_range``): on x86 processors without VNNI, ONNX
Runtime multiplies uint8 activations by int8 weights with an instruction whose 16-bit sums can
saturate, and a 7-bit weight range keeps them clear of it, so the int8 file reads the same faces
on every x86 machine, not just the one it was made on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx

from emostyle.classifier import EmotionClassifier
from emostyle.training.onnx_eval import dataset_crops

CALIBRATION_FACES = 512  # Training faces whose activations set the int8 ranges
CALIBRATION_SEED = 0
CALIBRATION_BATCH = 32
QUANTIZED_OPS = ["Conv", "Gemm", "MatMul"]


def calibration_faces(train_images: np.ndarray, count: int = CALIBRATION_FACES,
                      seed: int = CALIBRATION_SEED) -> np.ndarray:
    """A fixed random sample of Training faces (uint8, (N, H, W)): the same file in, the same
    int8 file out."""
    rng = np.random.default_rng(seed)
    take = min(count, len(train_images))
    return train_images[np.sort(rng.choice(len(train_images), take, replace=False))]


def quantize_classifier(src: str | Path, dst: str | Path, faces: np.ndarray) -> dict:
    """Write an int8 copy of the float32 classifier ``src`` (its card beside it) to ``dst``.

    ``faces`` are uint8 gray dataset faces (Training faces: :func:`calibration_faces`), resized
    to the model's input as evaluation does. Returns what the card records about the quantisation.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src), Path(dst)
    clf = EmotionClassifier(src)
    tensors = clf.to_tensor(dataset_crops(clf, faces))
    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(tensors[i:i + CALIBRATION_BATCH]
                                for i in range(0, len(tensors), CALIBRATION_BATCH))

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared))  # shapes and folding, as the tool advises
        quantize_static(str(prepared), str(dst), Faces(), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=QUANTIZED_OPS,
                        calibrate_method=CalibrationMethod.MinMax)
    return {"calibration_faces": len(faces),
            "calibration": f"{len(faces)} Training faces (seed {CALIBRATION_SEED}), min-max "
                           "ranges; weights per output channel in 7 bits, activations uint8",
            "quantized_ops": QUANTIZED_OPS}
