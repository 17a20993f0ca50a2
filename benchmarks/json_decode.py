"""Microseconds to decode a predict body to tensors, general path against number-array path,
and to encode float outputs, in one process.

The body is the CNN benchmark's: 32 images of 28x28x1 pixels with three decimals,
as TF Serving's ``instances`` (row) and ``inputs`` (columnar) JSON, about 225 KB.
"general" is what every body took before the number-array path (orjson to Python
lists, then numpy's nested-list inference): ``parse_request_object`` then
``decode_predict_inputs``. "number array" is ``parse_predict_body(...).decode``.
The collector is frozen after imports, as the server freezes it after loading
models (without that, each list orjson builds makes collections walk
TensorFlow's ~10^6 objects, and the general path costs ten times more). With
``--before-src DIR`` the number-array parser and the float encoder of another
source tree (``DIR/tensorserve/rest/json_number_array.py`` and ``float_text.py``,
each self-contained) are timed beside this one's, on the image batch's array
text, and their arrays and texts compared::

    PYTHONPATH=src python benchmarks/json_decode.py [--seconds 2] [--before-src /tmp/before/src]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 32


def cost_us(fn: Callable[[], Any], seconds: float) -> tuple[float, float]:
    """Mean wall and CPU microseconds per call of ``fn`` over about ``seconds``."""
    fn()
    calls, wall, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds:
        fn()
        calls += 1
    return (
        (time.perf_counter() - wall) / calls * 1e6,
        (time.process_time() - cpu) / calls * 1e6,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument(
        "--before-src", help="time this src/'s number-array parser and float encoder beside ours"
    )
    args = parser.parse_args(argv)

    from tensorserve.rest.float_text import float_json
    from tensorserve.rest.json_document import parse_request_object
    from tensorserve.rest.json_number_array import parse_number_array
    from tensorserve.rest.predict_body import parse_predict_body
    from tensorserve.rest.predict_request import RequestFormat, decode_predict_inputs
    from tensorserve.rest.predict_response import render_predict_response
    from tensorserve.servables.dtypes import DataType

    gc.freeze()
    pixels = np.round(np.random.default_rng(0).random((28, 28, 1)), 3).tolist()
    dtypes = {"images": DataType.DT_FLOAT}
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; collector frozen")
    print(f"{'body':<34} {'path':<14} {'wall us':>9} {'CPU us':>9}")
    for key in ("instances", "inputs"):
        body = json.dumps({key: [pixels] * BATCH}).encode()
        may_hold_bools = b"true" in body or b"false" in body

        def general(body: bytes = body, may_hold_bools: bool = may_hold_bools) -> Any:
            document, name = parse_request_object(body)
            return decode_predict_inputs(document, name, dtypes, may_hold_bools=may_hold_bools)

        def number_array(body: bytes = body) -> Any:
            return parse_predict_body(body).decode(dtypes)

        expected, actual = general()[0]["images"], number_array()["images"]
        assert expected.tobytes() == actual.tobytes() and expected.shape == actual.shape
        label = f'{{"{key}": [32x28x28x1]}} {len(body) // 1000} KB'
        for path, fn in (("general", general), ("number array", number_array)):
            wall, cpu = cost_us(fn, args.seconds)
            print(f"{label:<34} {path:<14} {wall:9,.0f} {cpu:9,.0f}")
    for nested in (False, True):
        _time_v2_json(pixels, nested, args.seconds)
    parsers: list[tuple[str, Callable[[bytes], Any]]] = [("this checkout", parse_number_array)]
    if args.before_src:
        parsers.append(("--before-src", _function_of(Path(args.before_src), "json_number_array")))
    text = json.dumps([pixels] * BATCH).encode()
    arrays = [parse(text) for _, parse in parsers]
    assert all(a.tobytes() == arrays[0].tobytes() for a in arrays), "the parsers disagree"
    for label, parse in parsers:
        wall, cpu = cost_us(lambda parse=parse: parse(text), args.seconds)
        print(f"{'parse_number_array 32x28x28x1':<34} {label:<14} {wall:9,.0f} {cpu:9,.0f}")
    rng = np.random.default_rng(1)
    for shape in ((BATCH, 10), (BATCH, 28, 28, 1)):
        outputs = {"probabilities": rng.random(shape).astype(np.float32)}
        wall, cpu = cost_us(
            lambda outputs=outputs: render_predict_response(outputs, RequestFormat.ROW),
            args.seconds,
        )
        size = "x".join(map(str, shape))
        print(f"{'encode float32 ' + size:<34} {'predictions':<14} {wall:9,.0f} {cpu:9,.0f}")
    encoders: list[tuple[str, Callable[[np.ndarray], str]]] = [("this checkout", float_json)]
    if args.before_src:
        encoders.append(("--before-src", _function_of(Path(args.before_src), "float_text")))
    images = rng.random((BATCH, 28, 28, 1)).astype(np.float32)
    for values, name in ((images, "random"), (np.round(images, 3), "3 decimals")):
        texts = {encode(values) for _, encode in encoders}
        assert len(texts) == 1, "the encoders disagree"
        for label, encode in encoders:
            wall, cpu = cost_us(lambda values=values, encode=encode: encode(values), args.seconds)
            print(f"{'float_json 32x28x28x1, ' + name:<34} {label:<14} {wall:9,.0f} {cpu:9,.0f}")
    return 0


def _time_v2_json(pixels: list[Any], nested: bool, seconds: float) -> None:
    """The same 32 images as a V2 JSON request header (``tritonclient.http`` sends ``data``
    flat), decoded to the FP32 tensor: the general parse against the native one."""
    from tensorserve.rest.json_document import parse_json
    from tensorserve.v2.datatypes import parse_datatype
    from tensorserve.v2.json_number_data import parse_request_header
    from tensorserve.v2.json_tensors import decode_json_data

    images = [pixels] * BATCH
    data = images if nested else np.asarray(images).ravel().tolist()
    tensor = {"name": "images", "shape": [BATCH, 28, 28, 1], "datatype": "FP32", "data": data}
    header = json.dumps({"inputs": [tensor]}).encode()
    fp32 = parse_datatype("FP32", "images")

    def decode(parse: Callable[[bytes], Any]) -> np.ndarray:
        entry = parse(header)["inputs"][0]
        return decode_json_data(entry["data"], fp32, entry["shape"], "images", may_hold_bools=False)

    paths = {"general": parse_json, "native": parse_request_header}
    arrays = [decode(parse) for parse in paths.values()]
    assert arrays[0].tobytes() == arrays[1].tobytes()
    label = f"V2 JSON data {'nested' if nested else 'flat'} {len(header) // 1000} KB"
    for path, parse in paths.items():
        wall, cpu = cost_us(lambda parse=parse: decode(parse), seconds)
        print(f"{label:<34} {path:<14} {wall:9,.0f} {cpu:9,.0f}")


_FUNCTIONS = {"float_text": "float_json", "json_number_array": "parse_number_array"}


def _function_of(src: Path, module_name: str) -> Callable[..., Any]:
    """The function this benchmark times from another tree's ``rest/<module_name>.py``
    (each imports only third-party packages, so it loads on its own)."""
    path = src / "tensorserve" / "rest" / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"before_{module_name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function: Callable[..., Any] = getattr(module, _FUNCTIONS[module_name])
    return function


if __name__ == "__main__":
    sys.exit(main())
