"""Model packaging: save any supported model into a directory, load it back as a uniform predictor.

``save_model(model, path, input_example=X)`` writes the model's files and ``treadle-model.yaml``
(flavor, framework and Python versions, signature, pinned requirements, the example, every file's
sha256 and a digest). ``load_model(path)`` verifies those digests before a framework reads a byte and
returns a :class:`Predictor`; ``load_model(path, flavor="sklearn")`` returns the native object.
Flavors: ``sklearn``, ``skops``, ``xgboost``, ``lightgbm``, ``pytorch``, ``onnx``, ``python``; their
frameworks are optional extras, imported only when used.
"""

from treadle.models._describe import SignatureRow, describe_manifest, signature_rows
from treadle.models._example import read_example
from treadle.models._manifest import MANIFEST, ModelManifest, parse_manifest_yaml, read_manifest
from treadle.models._predictor import Predictor
from treadle.models._python_model import PythonModel, PythonModelContext
from treadle.models._save import load_model, save_model
from treadle.models._signature import ColumnSpec, Schema, Signature, cast_values, infer_signature
from treadle.models.flavors import FLAVORS, Flavor, list_flavors
from treadle.models.flavors._onnx import to_onnx

__all__ = [
    "FLAVORS",
    "MANIFEST",
    "ColumnSpec",
    "Flavor",
    "ModelManifest",
    "Predictor",
    "PythonModel",
    "PythonModelContext",
    "Schema",
    "Signature",
    "SignatureRow",
    "cast_values",
    "describe_manifest",
    "infer_signature",
    "list_flavors",
    "load_model",
    "parse_manifest_yaml",
    "read_example",
    "read_manifest",
    "save_model",
    "signature_rows",
    "to_onnx",
]
