"""safetensors interop: files written by agpt are read by the Hugging Face
`safetensors` package with the same names, dtypes, shapes, values and
metadata; files written by `safetensors` are read by agpt (through the helper
program build/tools/st_tool) with the same values; and a corrupt file is
rejected by agpt with a message that names it."""
import os
import pathlib
import subprocess

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file as np_load
from safetensors.numpy import save_file as np_save
from safetensors.torch import load_file as torch_load
from safetensors.torch import save_file as torch_save

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def st_tool():
    path = os.path.join(os.environ.get("AGPT_TOOLS", str(ROOT / "build" / "tools")), "st_tool")
    assert os.path.exists(path), f"{path} is missing: run `make` first"
    return path


def tool(st_tool, *args, check=True):
    p = subprocess.run([st_tool, *map(str, args)], capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"st_tool {' '.join(map(str, args))} exited {p.returncode}: {p.stderr}")
    return p


def expected_written():
    """The tensors `st_tool write` produces (see tests/tools/st_tool.c)."""
    i12, i7 = np.arange(12), np.arange(7)
    return {
        "f32": torch.tensor((i12 * 0.25 - 1).reshape(3, 4), dtype=torch.float32),
        "f64": torch.tensor(np.arange(3) / 3.0, dtype=torch.float64),
        "bf16": torch.tensor((0x3F80 + np.arange(5) * 0x80).astype(np.int16), dtype=torch.int16).view(torch.bfloat16),
        "f16": torch.from_numpy((0x3C00 + np.arange(6) * 0x100).astype(np.uint16).view(np.float16).reshape(2, 3)),
        "i32": torch.tensor((np.arange(4) - 2) * 1000003, dtype=torch.int32),
        "i64": torch.tensor((np.arange(4, dtype=np.int64) * (1 << 40) - 7).reshape(2, 2), dtype=torch.int64),
        "u8": torch.tensor(i7 * 37, dtype=torch.uint8),
        "i8": torch.tensor(np.arange(3) * 50 - 100, dtype=torch.int8),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros((0, 3), dtype=torch.float32),
    }


def test_agpt_file_read_by_safetensors(st_tool, tmp_path):
    out = tmp_path / "agpt.safetensors"
    tool(st_tool, "write", out)
    got = torch_load(str(out))
    want = expected_written()
    assert sorted(got) == sorted(want)
    for name, w in want.items():
        g = got[name]
        assert g.dtype == w.dtype, name
        assert tuple(g.shape) == tuple(w.shape), name
        assert torch.equal(g, w), f"{name}: {g} != {w}"
    with safe_open(str(out), framework="pt") as f:
        assert f.metadata() == {"format": "pt", "producer": "agpt"}
    # the header is padded to a multiple of 8 and the data follows it
    raw = out.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert n % 8 == 0 and raw[8:9] == b"{"


def test_agpt_table_read_by_numpy(st_tool, tmp_path):
    out = tmp_path / "table.safetensors"
    tool(st_tool, "write-table", out)
    got = np_load(str(out))
    shapes = {"model.embed_tokens.weight": (10, 6), "model.layers.0.input_layernorm.weight": (6,),
              "lm_head.weight": (10, 6)}
    assert sorted(got) == sorted(list(shapes) + ["exp_avg." + k for k in shapes])
    offset = 0
    for name, shape in shapes.items():  # flat offsets padded to 16 elements, in table order
        numel = int(np.prod(shape))
        idx = np.arange(offset, offset + numel, dtype=np.float32).reshape(shape)
        assert got[name].dtype == np.float32 and got[name].shape == shape
        np.testing.assert_array_equal(got[name], 0.5 * idx + 1)
        np.testing.assert_array_equal(got["exp_avg." + name], -idx)
        offset += (numel + 15) // 16 * 16


def dump(st_tool, path, name, tmp_path):
    out = tmp_path / f"{name}.f32"
    tool(st_tool, "dump", path, name, out)
    return np.fromfile(out, dtype="<f4")


def test_safetensors_file_read_by_agpt(st_tool, tmp_path):
    g = torch.Generator().manual_seed(7)
    tensors = {
        "model.layers.0.self_attn.q_proj.weight": torch.randn(8, 5, generator=g),
        "w_bf16": torch.randn(3, 7, generator=g).to(torch.bfloat16),
        "w_f16": torch.randn(2, 2, 3, generator=g).to(torch.float16),
        "w_f64": torch.randn(4, generator=g).to(torch.float64),
        "ids_i64": torch.tensor([[0, 5, -9], [123456, 7, 8]], dtype=torch.int64),
        "ids_i32": torch.tensor([1, -2, 3], dtype=torch.int32),
        "bytes_u8": torch.tensor([0, 255, 17], dtype=torch.uint8),
        "bytes_i8": torch.tensor([-128, 127, 0, 5], dtype=torch.int8),
        "scalar": torch.tensor(-0.75),
        "empty": torch.zeros(0, 4),
    }
    path = tmp_path / "py.safetensors"
    torch_save(tensors, str(path), metadata={"format": "pt", "note": "from python"})
    listing = tool(st_tool, "list", path).stdout.splitlines()
    dtype_names = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.float64: "F64",
                   torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.int8: "I8"}
    rows = {}
    meta = {}
    for line in listing:
        parts = line.split(" ")
        if parts[0] == "meta":
            meta[parts[1]] = " ".join(parts[2:])
        else:
            rows[parts[0]] = parts[1:]
    assert meta == {"format": "pt", "note": "from python"}
    assert sorted(rows) == sorted(tensors)
    for name, t in tensors.items():
        dtype, shape, nbytes = rows[name]
        assert dtype == dtype_names[t.dtype], name
        assert shape == (",".join(map(str, t.shape)) if t.dim() else "-"), name
        assert int(nbytes) == t.numel() * t.element_size(), name
        got = dump(st_tool, path, name, tmp_path)
        want = t.to(torch.float64).to(torch.float32).reshape(-1).numpy()
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_numpy_file_read_by_agpt(st_tool, tmp_path):
    rng = np.random.default_rng(3)
    arrays = {"a": rng.standard_normal((17, 3)).astype(np.float32), "b": rng.integers(-5, 5, 11).astype(np.int64)}
    path = tmp_path / "np.safetensors"
    np_save(arrays, str(path))
    np.testing.assert_array_equal(dump(st_tool, path, "a", tmp_path), arrays["a"].reshape(-1))
    np.testing.assert_array_equal(dump(st_tool, path, "b", tmp_path), arrays["b"].astype(np.float32))


def test_agpt_rejects_corrupt_file(st_tool, tmp_path):
    path = tmp_path / "ok.safetensors"
    np_save({"x": np.arange(10, dtype=np.float32)}, str(path))
    assert tool(st_tool, "check", path).returncode == 0
    raw = path.read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(raw[:-4])
    p = tool(st_tool, "check", bad, check=False)
    assert p.returncode != 0 and str(bad) in p.stderr and "tensor x" in p.stderr
    # the Python reader agrees that it is broken
    with pytest.raises(Exception):
        np_load(str(bad))
    bad2 = tmp_path / "badlen.safetensors"
    bad2.write_bytes((len(raw) * 2).to_bytes(8, "little") + raw[8:])
    p = tool(st_tool, "check", bad2, check=False)
    assert p.returncode != 0 and str(bad2) in p.stderr and "header length" in p.stderr
