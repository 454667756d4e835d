"""Edits a file of an agpt checkpoint and rewrites manifest.json so that its
sizes and CRC-32C values agree again: the checkpoint then passes every
integrity check, and only agpt's validation of the contents stands between
a bad value and a training run. Written from the manifest's description in
src/ckpt/checkpoint.h, independently of agpt's code."""
import json
import pathlib

_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def rewrite(ckpt_dir, name, data: bytes):
    """Replaces ckpt_dir/name by data and makes the manifest consistent."""
    d = pathlib.Path(ckpt_dir)
    (d / name).write_bytes(data)
    manifest = json.loads((d / "manifest.json").read_text())
    for f in manifest["files"]:
        if f["name"] == name:
            f["size"], f["crc32c"] = len(data), f"{crc32c(data):08x}"
    head = ('{\n  "format": "agpt-checkpoint",\n  "version": 1,\n  "iteration": %d,\n  "files": [' %
            manifest["iteration"])
    rows = [f'\n    {{"name": {json.dumps(f["name"])}, "size": {f["size"]}, "crc32c": "{f["crc32c"]}"}}'
            for f in manifest["files"]]
    head += ",".join(rows) + ("\n  ],\n" if rows else "],\n")
    body = head.encode()
    text = body + b'  "manifest_crc32c": "%08x"\n}\n' % crc32c(body)
    (d / "manifest.json").write_bytes(text)


def edit_json(ckpt_dir, name, **changes):
    d = pathlib.Path(ckpt_dir)
    obj = json.loads((d / name).read_text())
    obj.update(changes)
    rewrite(d, name, (json.dumps(obj, indent=2) + "\n").encode())
